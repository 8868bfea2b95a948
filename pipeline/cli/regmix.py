"""`gristmill regmix CONFIG`: propose mixture weights from tiny proxy runs (RegMix)."""
from __future__ import annotations

import json

from gristmill.pipeline.config import ConfigError

HELP = "sample K mixtures, train tiny proxies, regress held-out loss on weights, propose the best mixture"


def add_arguments(p):
    p.add_argument("config", help="a training YAML (as for `gristmill train`): model, batch, mixture")
    p.add_argument("--out", required=True, help="folder for proxies, regmix.json and regmix.md")
    p.add_argument("-k", "--proxies", type=int, default=None,
                   help="number of sampled mixtures (default: 512, the paper's; 16 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="quick mode: 16 proxies, for smoke runs; the result says mode: quick")
    p.add_argument("--steps", type=int, default=200, help="training steps per proxy")
    p.add_argument("--target", nargs="*", help="domains whose mean held-out loss is minimised (default: all)")
    p.add_argument("--regressor", choices=["lightgbm", "sklearn"], default="lightgbm")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")


def main(args) -> int:
    from ...trainer_hooks.mixture import MixtureError
    from ...trainer_hooks.regmix import PAPER, QUICK, run_regmix
    from ...trainer_hooks.schedules import ScheduleError
    from .train import load_train_config
    if args.proxies is not None and args.proxies < 2:
        raise ConfigError("regmix needs at least 2 proxies (-k)")
    cfg = load_train_config(args.config)
    try:
        result = run_regmix(cfg, args.out, sampling=QUICK if args.quick else PAPER, k=args.proxies,
                            steps=args.steps, target=args.target, seed=args.seed, prefer=args.regressor,
                            quiet=args.quiet)
    except (MixtureError, ScheduleError) as e:
        raise ConfigError(f"{args.config}: {e}") from None
    print(json.dumps({"proposal": result["proposal"], "predicted_target": result["predicted_target"],
                      "predicted_interval": result["predicted_interval"], "cv_r2": result["cv_r2"],
                      "cv_spearman": result["cv_spearman"], "mode": result["mode"],
                      "regressor": result["regressor"], "table": f"{args.out}/regmix.md"}, indent=2))
    return 0
