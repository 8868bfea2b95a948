"""gristmill describe CONFIG"""
from __future__ import annotations

HELP = "validate a config and show the plan: stages, their settings, columns in and out"


def add_arguments(p):
    from .run import add_set_argument
    p.add_argument("config")
    add_set_argument(p)


def main(args) -> int:
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
