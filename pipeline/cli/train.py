"""`gristmill train CONFIG`: the bundled pretraining loop on a mixture (see configs/train_tiny.yaml)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from gristmill.pipeline.config import ConfigError, format_validation

HELP = ("train a small GPT on a mixture.json with a mixture schedule (per-domain held-out loss in log.jsonl); "
        "under torchrun it runs DDP")


def add_arguments(p):
    p.add_argument("config", help="training YAML (keys: see TrainConfig in trainer_hooks/train_config.py)")
    p.add_argument("--out", help="override out_dir")
    p.add_argument("--steps", type=int, help="override steps")
    p.add_argument("--no-resume", action="store_true", help="start over even if out_dir has a checkpoint")
    p.add_argument("--quiet", action="store_true")


def load_train_config(path: str, **overrides):
    from ...trainer_hooks.train_config import TrainConfig
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation(e, str(p))) from None


def main(args) -> int:
    from ...trainer_hooks.mixture import MixtureError
    from ...trainer_hooks.schedules import ScheduleError
    from ...trainer_hooks.train import train
    cfg = load_train_config(args.config, out_dir=args.out, steps=args.steps,
                            resume=False if args.no_resume else None)
    try:
        summary = train(cfg, quiet=args.quiet)
    except (MixtureError, ScheduleError) as e:
        raise ConfigError(f"{args.config}: {e}") from None
    if os.environ.get("RANK", "0") == "0":  # under torchrun every rank returns the same summary: print it once
        print(json.dumps(summary, indent=2))
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # the work is saved and reported; gloo's threads can still abort the interpreter's finalization (SIGABRT,
        # "terminate called without an active exception", ~1 run in 8 on 2 busy cores) even after
        # destroy_process_group, which would turn a finished run into a failed rank: leave without it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
