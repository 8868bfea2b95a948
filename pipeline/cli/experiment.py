"""`gristmill experiment CONFIG`: does curation pay? raw, clean, selected, rephrased, upsampled at equal tokens."""
from __future__ import annotations

import sys

HELP = ("train the tiny GPT on raw, clean, clean+fl, clean+random, clean+rephrased, its repeated-real control "
        "clean+repeated and clean+upsample arms of one corpus at equal tokens; compare loss on held-out target sets "
        "(see configs/experiment.yaml)")


def add_arguments(p):
    p.add_argument("config", help="experiment YAML (keys: ExperimentConfig in trainer_hooks/experiment/config.py)")
    p.add_argument("--seeds", type=int, help="training seeds per arm (default 3)")
    p.add_argument("--tokens", type=int, help="training tokens per run (sets steps = tokens / (batch x block))")
    p.add_argument("--steps", type=int, help="training steps per run")
    p.add_argument("--arms", nargs="+", metavar="ARM", help="only these arms (raw is always built: it trains the "
                                                            "tokenizer every arm shares)")
    p.add_argument("--ablate", action="store_true", help="also train clean without each of its stages in turn "
                                                         "(leave one stage out): what each stage contributes")
    p.add_argument("--full", action="store_true", help="a GPU-sized run (the config's `full:` train settings)")
    p.add_argument("--quiet", "-q", action="store_true")


def main(args) -> int:
    from ...trainer_hooks.experiment import load_experiment, run_experiment
    cfg = load_experiment(args.config, full=args.full, seeds=args.seeds, steps=args.steps, arms=args.arms,
                          ablate=args.ablate)
    if args.tokens:
        t = cfg.train
        cfg.train.steps = max(1, args.tokens // (t.batch_size * t.block_size))
    exp = run_experiment(cfg, quiet=args.quiet)
    print((exp / "outcome.md").read_text())
    print(f"outcome: {exp}/outcome.md, {exp}/outcome.png; report: gristmill report {exp.parent}", file=sys.stderr)
    return 0
