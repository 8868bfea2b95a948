"""Inspection speed: `gristmill inspect` (DuckDB over the run's Parquet) against the ad-hoc pandas a
datatrove/Curator user writes to answer the same question (per-stage counts, ~tokens, drop reasons).

The run folder is built once from the real CommonCrawl sample repeated to --n rows: a read stage and an
exact-dedup stage whose rejected rows point at their kept copy, in the layout the runner writes.
    .venv/bin/python benchmarks/bench_inspect.py --n 100000
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def build_run(n: int) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq
    run = harness.CACHE / f"inspect-run-{n}"
    if (run / "manifest.json").exists():
        return run
    docs = harness.web_docs()
    rows = [{**docs[i % len(docs)], "id": f"{docs[i % len(docs)]['id']}-{i // len(docs)}"} for i in range(n)]
    first: dict[str, str] = {}
    dup_of = []
    for r in rows:
        h = hashlib.sha256(r["text"].encode()).hexdigest()
        dup_of.append(first.get(h))
        first.setdefault(h, r["id"])
    stages = []
    for i, (name, parts) in enumerate((("read", {"kept": rows, "rejected": []}),
                                       ("dedup_exact", {"kept": [r for r, d in zip(rows, dup_of) if d is None],
                                                        "rejected": [{**r, "duplicate_of": d,
                                                                      "drop_reason": "dup:exact"}
                                                                     for r, d in zip(rows, dup_of) if d]}))):
        d = run / f"{i:02d}-{name}"
        for part, data in parts.items():
            (d / part).mkdir(parents=True)
            cols = ["id", "text", "url", "source", "duplicate_of", "drop_reason"]
            table = pa.table({c: pa.array([x.get(c) for x in data], pa.string()) for c in cols})
            for k in range(4):  # several files, as Spark writes one per partition
                lo, hi = k * len(data) // 4, (k + 1) * len(data) // 4
                pq.write_table(table.slice(lo, hi - lo), d / part / f"part-{k}.parquet")
        st = {"stage": name, "in": n, "kept": len(parts["kept"]), "rejected": len(parts["rejected"]), "seconds": 0}
        (d / "stats.json").write_text(json.dumps(st))
        (d / "_SUCCESS").write_text("x\n")
        stages.append({"index": i, "name": name, "dir": d.name, "status": "done"})
    (run / "manifest.json").write_text(json.dumps({"format_version": 1, "name": run.name, "stages": stages}))
    return run


def gristmill_answer(run: Path) -> dict:
    from gristmill.pipeline.inspection.run import Run, stage_rows
    rows = stage_rows(Run(run))
    return {r["stage"]: (r["kept"], r["rejected"], r["tokens_kept"], tuple(map(tuple, r["reasons"]))) for r in rows}


def pandas_answer(run: Path) -> dict:
    import pandas as pd
    out = {}
    for d in sorted(p for p in run.iterdir() if (p / "_SUCCESS").exists()):
        kept = pd.read_parquet(d / "kept")
        rej = pd.read_parquet(d / "rejected")
        tokens = int(kept["text"].str.encode("utf-8").str.len().sum()) // 4
        vc = rej["drop_reason"].value_counts() if len(rej) else pd.Series(dtype=int)
        reasons = tuple(sorted(((k, int(v)) for k, v in vc.items()), key=lambda kv: (-kv[1], kv[0])))[:5]
        out[d.name] = (len(kept), len(rej), tokens, reasons)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    run = build_run(args.n)
    results = {}
    for name, fn in (("gristmill inspect (DuckDB)", gristmill_answer), ("pandas read_parquet", pandas_answer)):
        with harness.timed() as t:
            ans = fn(run)
        results[name] = (t["seconds"], ans)
    base = results["pandas read_parquet"][0]
    same = results["gristmill inspect (DuckDB)"][1] == results["pandas read_parquet"][1]
    rows = [[name, args.n, secs, base / secs, "same" if same else "DIFFERENT"] for name, (secs, _) in results.items()]
    table = harness.markdown_table(["tool", "documents", "seconds", "speed-up vs pandas", "answer"], rows)
    harness.publish("inspect", f"per-stage counts, ~tokens and top drop reasons, {args.n:,} real web docs "
                               f"(2-stage run)\n\n{table}")


if __name__ == "__main__":
    main()
