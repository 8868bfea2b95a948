"""Training every arm x seed at equal tokens with the bundled loop (trainer_hooks/train.py)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .common import mixture_json, say, write_yaml
from .config import ExperimentConfig, ExperimentError


def pick_upsample_domain(cfg: ExperimentConfig, clean_mix: Path) -> tuple[str | None, str | None]:
    """(domain, None), or (None, why the clean+upsample arm is skipped)."""
    m = mixture_json(clean_mix)["domains"]
    up = cfg.upsample
    if up.domain:
        if up.domain not in m or not m[up.domain]["tokens"]:
            raise ExperimentError(f"upsample.domain {up.domain!r} has no clean training tokens; "
                                  f"clean domains: {sorted(d for d in m if m[d]['tokens'])}")
        return up.domain, None
    total = sum(e["tokens"] for e in m.values()) or 1
    # one held-out window is block_size + 1 tokens (inputs and the shifted targets)
    windowed = {d for d, e in m.items() if e["tokens"] and e["heldout_tokens"] > cfg.train.block_size}
    ok = [d for d in windowed if m[d]["tokens"] / total >= up.min_share]
    if not ok:
        shares = ", ".join(f"{d} {m[d]['tokens'] / total:.1%}" for d in sorted(windowed)) or "none"
        return None, (f"no clean domain has both held-out windows and at least upsample.min_share="
                      f"{up.min_share:g} of clean training tokens (domains with held-out windows: {shares}); "
                      f"lower upsample.min_share or name upsample.domain")
    return min(ok, key=lambda d: (m[d]["tokens"], d)), None


def train_config(cfg: ExperimentConfig, mixture: Path, out: Path, seed: int, upsample: dict | None) -> dict:
    t = cfg.train
    sched = {"type": "static"} if upsample is None else {"type": "static", "upsample": upsample}
    return {"mixture": str(mixture), "out_dir": str(out), "seed": seed, "steps": t.steps,
            "batch_size": t.batch_size, "block_size": t.block_size, "model": t.model, "lr": t.lr,
            "warmup": min(t.warmup, t.steps // 5), "lr_schedule": "wsd",
            "wsd_decay_fraction": cfg.upsample.last_fraction, "align_decay": True, "schedule": sched,
            "log_every": max(1, min(10, t.steps // 10)), "eval_every": t.eval_every or max(1, t.steps // 10),
            "eval_batches": t.eval_batches or cfg.heldout.batches, "ckpt_every": t.steps, "device": t.device}


def _finished(log: Path, steps: int) -> bool:
    if not log.exists():
        return False
    recs = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    return any(r.get("step") == steps and "heldout" in r for r in recs)


def _train(conf: dict, path: Path) -> None:
    """One run of the bundled loop, from the start (a half-written earlier run is not resumed)."""
    from ..mixture import MixtureError
    from ..schedules import ScheduleError
    from ..train import train
    from ..train_config import TrainConfig
    try:
        train(TrainConfig.model_validate({**conf, "resume": False}), quiet=True)
    except (MixtureError, ScheduleError) as e:
        raise ExperimentError(f"{path}: {e}") from None


def train_arms(cfg: ExperimentConfig, exp: Path, mixtures: dict[str, Path], upsample_domain: str | None,
               quiet: bool) -> dict[str, list[Path]]:
    from gristmill.pipeline.config import digest
    jobs = [(a, mixtures[a], None) for a in mixtures]
    if upsample_domain:
        up = {"domains": [upsample_domain], "factor": cfg.upsample.factor,
              "last_fraction": cfg.upsample.last_fraction}
        jobs.append(("clean+upsample", mixtures["clean"], up))
    logs: dict[str, list[Path]] = {}
    for arm, mixture, up in jobs:
        for seed in range(cfg.train.seeds):
            probe = train_config(cfg, mixture, Path("."), seed, up)
            out = exp / "train" / arm.replace("+", "_") / f"seed{seed}-{digest(probe)[:8]}"
            conf = train_config(cfg, mixture, out, seed, up)
            log = out / "log.jsonl"
            if not _finished(log, cfg.train.steps):
                write_yaml(out / "train.yaml", conf)  # to rerun one by hand: gristmill train train.yaml
                t0 = time.time()
                _train(conf, out / "train.yaml")
                say(quiet, f"trained {arm} seed {seed}: {cfg.train.tokens:,} tokens in {time.time() - t0:.0f} s")
            logs.setdefault(arm, []).append(log)
    return logs

