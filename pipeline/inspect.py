"""Inspection over a run directory with DuckDB (no Spark): the per-stage summary."""
from __future__ import annotations

import json
from pathlib import Path

from .stage import StageError


def open_run(run_dir: str | Path) -> tuple[Path, dict]:
    run = Path(run_dir)
    mpath = run / "manifest.json"
    if not mpath.exists():
        raise StageError(f"{run} is not a gristmill run (no manifest.json); runs live under runs/<name>/")
    manifest = json.loads(mpath.read_text())
    from .rundir import FORMAT_VERSION
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise StageError(f"{run} was written by a newer gristmill (format {manifest['format_version']} > "
                         f"{FORMAT_VERSION}); upgrade gristmill to inspect it")
    return run, manifest


def parquet_glob(folder: Path) -> str | None:
    return str(folder / "*.parquet") if folder.exists() and any(folder.glob("*.parquet")) else None


def stage_rows(run: Path, manifest: dict) -> list[dict]:
    import duckdb
    con = duckdb.connect()
    rows = []
    for st in manifest.get("stages", []):
        d = run / st["dir"]
        stats = {}
        if (d / "stats.json").exists():
            stats = json.loads((d / "stats.json").read_text())
        status = "done" if (d / "_SUCCESS").exists() else st.get("status", "pending")
        row = {"stage": st["dir"], "status": status, "in": stats.get("in"), "kept": stats.get("kept"),
               "rejected": stats.get("rejected"), "seconds": stats.get("seconds"), "reasons": []}
        rej = parquet_glob(d / "rejected")
        if rej:
            row["reasons"] = con.execute(
                f"SELECT drop_reason, count(*) FROM read_parquet('{rej}') GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
            ).fetchall()
        rows.append(row)
    return rows


def _n(v) -> str:
    return "-" if v is None else f"{v:,}"


def print_summary(run_dir: str | Path) -> None:
    run, manifest = open_run(run_dir)
    rows = stage_rows(run, manifest)
    print(f"run {manifest.get('name')}  ({run})")
    print(f"{'stage':<18}{'status':>9}{'in':>10}{'kept':>10}{'rejected':>10}{'time':>8}  top drop reasons")
    for r in rows:
        secs = "-" if r["seconds"] is None else f"{r['seconds']:.1f}s"
        reasons = ", ".join(f"{k} {v:,}" for k, v in r["reasons"][:3])
        print(f"{r['stage']:<18}{r['status']:>9}{_n(r['in']):>10}{_n(r['kept']):>10}{_n(r['rejected']):>10}"
              f"{secs:>8}  {reasons}")
