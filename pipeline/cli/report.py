"""gristmill report RUN -o report.html"""
from __future__ import annotations

HELP = "one self-contained HTML page about a run: funnel, drop reasons, distributions, duplicates, selection, training"


def add_arguments(p):
    p.add_argument("run", help="run folder (runs/<name>)")
    p.add_argument("-o", "--output", help="HTML file to write (default: <run>/report.html)")


def main(args) -> int:
    from pathlib import Path

    from ..report.build import build_report
    out = build_report(args.run, args.output or Path(args.run) / "report.html")
    print(f"report: {out}  (open it in a browser; it needs no network)")
    return 0
