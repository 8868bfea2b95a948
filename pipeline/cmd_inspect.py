"""gristmill inspect RUN"""
from __future__ import annotations

HELP = "what happened to my data: per-stage counts, time and drop reasons (DuckDB, no Spark)"


def add_arguments(p):
    p.add_argument("run", help="run folder (runs/<name>)")


def main(args) -> int:
    from .inspect import print_summary
    print_summary(args.run)
    return 0
