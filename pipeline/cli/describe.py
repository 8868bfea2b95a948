"""gristmill describe CONFIG: a pipeline, training (`gristmill train`), experiment (`gristmill experiment`) or
plan-filter (`gristmill plan-filter`) config"""
from __future__ import annotations

from pathlib import Path

HELP = ("validate a config and show the plan: a pipeline's stages, settings and columns; a training or "
        "experiment config's settings")
EXPERIMENT_KEYS = {"clean", "arms", "upsample", "heldout", "near_dedup", "full"}
# keys only a plan-filter config has (it shares heldout/near_dedup with an experiment config)
PLAN_KEYS = {"buckets", "proxy", "score", "budgets", "irreducible"}


def add_arguments(p):
    from .run import add_set_argument
    p.add_argument("config")
    add_set_argument(p)


def _settings(obj, indent: str = "  ") -> None:
    for k, v in obj.model_dump().items():
        print(f"{indent}{k}={v}")


def describe_training(path: str) -> None:
    from .train import load_train_config
    cfg = load_train_config(path)
    print(f"{path}: training config (gristmill train): mixture {cfg.mixture} -> {cfg.out_dir}")
    print(f"  steps {cfg.steps}, batch {cfg.batch_size} x block {cfg.block_size} tokens, model {cfg.model}")
    schedule = getattr(cfg, "schedule", None)
    if schedule is not None:
        print(f"  schedule: {getattr(schedule, 'type', schedule)}")
    _settings(cfg)


def describe_experiment(path: str) -> None:
    from ...trainer_hooks.experiment import load_experiment
    cfg = load_experiment(path)
    print(f"{path}: experiment config (gristmill experiment) {cfg.name}: input {cfg.input}")
    print(f"  arms: {', '.join(cfg.arms)}")
    print("  clean: " + " -> ".join(next(iter(s)) for s in cfg.clean))
    print(f"  select: {cfg.select.selector}, budget {cfg.select.budget}, params {cfg.select.params}")
    t = cfg.train
    print(f"  train (every arm): seeds {t.seeds}, steps {t.steps}, batch {t.batch_size} x block {t.block_size}, "
          f"vocab {t.vocab_size}, model {t.model}")
    _settings(cfg)


def describe_plan(path: str) -> None:
    from ...trainer_hooks.experiment.plan_filter import load_plan
    cfg = load_plan(path)
    print(f"{path}: plan-filter config (gristmill plan-filter) {cfg.name}: input {cfg.input}")
    print(f"  score: {cfg.score} ({'higher' if cfg.higher_is_better else 'lower'} is better), {cfg.buckets} buckets; "
          f"proxy pools {cfg.proxy.fractions} of {cfg.proxy.pool_fraction} of each bucket")
    t = cfg.train
    print(f"  proxies: seeds {t.seeds}, steps {t.steps}, batch {t.batch_size} x block {t.block_size}, model {t.model}")
    print(f"  budgets: {cfg.budgets or '(give --budget)'}")
    _settings(cfg)


def main(args) -> int:
    from ..config import load_yaml
    raw = load_yaml(Path(args.config).read_text(encoding="utf-8"), args.config) if Path(args.config).is_file() else {}
    if isinstance(raw, dict) and "stages" not in raw and not args.overrides:
        if "mixture" in raw:
            describe_training(args.config)
            return 0
        if PLAN_KEYS & set(raw):
            describe_plan(args.config)
            return 0
        if EXPERIMENT_KEYS & set(raw):
            describe_experiment(args.config)
            return 0
    return describe_pipeline(args)


def describe_pipeline(args) -> int:
    from ..config import load_config
    from ..inputs.readers import base_fields
    from ..inputs.warc import web_fields
    cfg, stages = load_config(args.config, args.overrides)
    fields = web_fields if cfg.input.format in ("warc", "wet", "html") else base_fields
    cols = [n for n, _ in fields(cfg.input.keep_fields) if n not in ("drop_reason", "read_error")]
    print(f"{cfg.name}: input {cfg.input.format} {cfg.input.path or ''}")
    print(f"  00-read     -> columns {', '.join(cols)}")
    for i, (cls, params) in enumerate(stages, 1):
        stage = cls(params)
        stage.check_columns(cols)
        new = [c for c in stage.produced_columns() if c not in cols]
        rewritten = [c for c in stage.produced_columns() if c in cols]  # e.g. quality's C4 line removal
        cols += new
        shown = ", ".join(f"{k}={v}" for k, v in params.model_dump().items())
        print(f"  {i:02d}-{cls.name:<8} {shown}")
        if new:
            print(f"              adds {', '.join(new)}")
        if rewritten:
            print(f"              rewrites {', '.join(rewritten)}")
    return 0
