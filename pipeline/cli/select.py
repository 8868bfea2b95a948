"""gristmill select RUN --selector S --budget B"""
from __future__ import annotations

import json
import sys

HELP = "select a subset of a run's kept documents into RUN/selection/ (ids, rank, score, weight, diagnostics)"


def _budget(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def _param(text: str):
    if "=" not in text:
        raise ValueError(f"--param takes KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        return k, json.loads(v)
    except ValueError:
        return k, v


def add_arguments(p):
    from ...selectors.base import known_selectors
    from .common import add_embed_arguments
    p.add_argument("run", help="run folder, e.g. runs/web-en")
    p.add_argument("--selector", required=True, choices=known_selectors())
    p.add_argument("--budget", required=True, type=_budget, help="a count (1000) or a fraction (0.3)")
    p.add_argument("--target", metavar="PATH", help="target examples (jsonl/parquet/txt) for dsir, zipfit, target_knn")
    p.add_argument("--stage", metavar="S", help="stage name or folder (default: the last finished stage)")
    p.add_argument("--param", action="append", type=_param, default=[], metavar="KEY=VALUE",
                   help="selector parameter, repeatable (e.g. --param k=20 --param optimizer=lazy)")
    p.add_argument("--seed", type=int, default=0)
    add_embed_arguments(p)
    p.add_argument("--quiet", "-q", action="store_true")


def main(args) -> int:
    from pydantic import ValidationError

    from gristmill.pipeline.config import format_validation

    from ...selectors.base import SelectorError
    from ...selectors.run_select import SelectConfig, preflight, run_selection
    from ..rundir import RunDir
    from .common import spark_for, stage_kept
    run_dir, kept, manifest = stage_kept(args.run, args.stage)
    try:
        cfg = SelectConfig(selector=args.selector, budget=args.budget, params=dict(args.param), target=args.target,
                           seed=args.seed, model_path=args.model, max_tokens=args.max_tokens,
                           long_docs=args.long_docs, batch_size=args.batch_size)
    except ValidationError as e:
        raise SelectorError(format_validation(e, "gristmill select")) from None
    preflight(cfg)
    spark = spark_for(manifest)
    out = RunDir(run_dir).command_selection
    selection, _ = run_selection(spark, spark.read.parquet(str(kept)), cfg, run_dir, out)
    if not args.quiet:
        d = selection.diagnostics
        extra = f", objective {d['objective']:.1f}" if "objective" in d else ""
        print(f"selected {len(selection):,} of {d.get('n', '?'):,} documents with {args.selector}{extra}; "
              f"written to {out}", file=sys.stderr)
    return 0
