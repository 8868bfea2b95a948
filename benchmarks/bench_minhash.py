"""Throughput and peak memory of MinHash dedup: gristmill (Spark, local[2]) vs datatrove (2 local workers).

Input: real CommonCrawl docs, each repeated with light random edits (0-10% of words) up to --n, so the
corpus is full of near-duplicate clusters like a real crawl. Both systems read the same jsonl shards.

    nice -n 5 .venv/bin/python benchmarks/bench_minhash.py --n 100000
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import time

import dedup_gold as g
from harness import CACHE, PeakRSS, markdown_table, publish, web_docs

from gristmill.stages import minhash


def corpus(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    base = [d for d in web_docs() if minhash.words(d["text"])]
    boiler = ["Share this page. Cookies help us deliver our services."]
    out = []
    for i in range(n):
        d = base[i % len(base)]
        text = d["text"] if i < len(base) else g._edit(d["text"], rng, rng.choice([0.0, 0.02, 0.05, 0.1]), boiler)
        out.append({"id": f"{i:08d}", "text": text})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="documents (100000 and 1000000 for the issue's sizes)")
    ap.add_argument("--skip-datatrove", action="store_true")
    args = ap.parse_args()
    folder = g.write_shards(corpus(args.n), CACHE / f"minhash-{args.n}")
    load = os.getloadavg()[0]
    work = CACHE / "minhash-work"
    rows, rates = [], {}
    runs = [("gristmill dedup_minhash", lambda: g.run_gristmill(folder, work, {}, shuffle_partitions=8))]
    if not args.skip_datatrove:
        runs.append(("datatrove 0.10 MinHash", lambda: (g.run_datatrove(folder, work), None)))
    for name, run in runs:
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            clusters, _ = run()
            secs = time.perf_counter() - t0
        removed = len(clusters) - len(set(c if c is not None else i for i, c in clusters.items()))
        rates[name] = args.n / secs
        rows.append([name, args.n, secs, args.n / secs, removed, mem.mb["self_mb"], mem.mb["children_mb"]])
    shutil.rmtree(work, ignore_errors=True)
    base = rows[-1][3] if not args.skip_datatrove else None
    for r in rows:
        r.append(r[3] / base if base else "-")
    table = markdown_table(["system", "docs", "seconds", "docs/s", "docs removed",
                            "peak RSS driver MB", "peak RSS workers MB", "vs datatrove"], rows)
    note = (f"\n\nLoad average when the run started: {load:.2f} (2 cores). Seconds include starting Spark. "
            "GPU path not measured (no GPU lent to this task).")
    publish(f"bench_minhash_{args.n}", table + note)


if __name__ == "__main__":
    main()
