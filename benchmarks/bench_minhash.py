"""Throughput and peak memory of MinHash dedup: gristmill (Spark, local[2]) vs datatrove (2 local workers).

Input: real CommonCrawl docs, each repeated with light random edits (0-10% of words) up to --n, so the
corpus is full of near-duplicate clusters like a real crawl. Both systems read the same jsonl shards.

    nice -n 5 .venv/bin/python benchmarks/bench_minhash.py --n 100000
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import time
from pathlib import Path

import dedup_gold as g
from harness import CACHE, PeakRSS, markdown_table, publish, web_docs

from gristmill.stages.dedup import signatures as minhash


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


def write_corpus(n: int, folder: Path) -> None:
    g.write_shards(corpus(n), folder)
    (folder / "_done").write_text(str(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="documents (100000 and 1000000 for the issue's sizes)")
    ap.add_argument("--skip-datatrove", action="store_true")
    args = ap.parse_args()
    folder = CACHE / f"minhash-{args.n}"
    if not (folder / "_done").exists():
        # in a child process, so this process (the Spark driver below) never holds the corpus
        child = multiprocessing.get_context("fork").Process(target=write_corpus, args=(args.n, folder))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"writing the corpus to {folder} failed")
    load = os.getloadavg()[0]
    work = CACHE / "minhash-work"
    rows = []
    runs = [("gristmill dedup_minhash", lambda: g.gristmill_run(folder, work, {}, shuffle_partitions=8),
             lambda stage: json.loads((stage / "stats.json").read_text())["rejected"])]
    if not args.skip_datatrove:
        runs.append(("datatrove 0.10 MinHash", lambda: g.datatrove_run(folder, work),
                     lambda _: g.count_lines(work / "removed")))
    for name, run, count_removed in runs:
        # only the run is measured: reading the results back for the table happens after
        # datatrove runs second: leave gristmill's idle Spark JVM out of its figures
        with PeakRSS(skip_existing_children=name.startswith("datatrove")) as mem:
            t0 = time.perf_counter()
            out = run()
            secs = time.perf_counter() - t0
        rows.append([name, args.n, secs, args.n / secs, count_removed(out), mem.mb["self_mb"],
                     mem.mb["children_mb"]])
    shutil.rmtree(work, ignore_errors=True)
    base = rows[-1][3] if not args.skip_datatrove else None
    for r in rows:
        r.append(r[3] / base if base else "-")
    table = markdown_table(["system", "docs", "seconds", "docs/s", "docs removed",
                            "peak RSS driver MB", "peak RSS workers MB", "vs datatrove"], rows)
    note = (f"\n\nLoad average when the run started: {load:.2f} (2 cores). Seconds include starting Spark. "
            "Peak RSS is sampled during the run only; the benchmark's own process (the Spark driver) never "
            "holds the corpus: it is written by a child process and the removed counts are read after the run "
            "(gristmill: stats.json; datatrove: its removed/ files). GPU path not measured (no GPU lent to "
            "this task).")
    if args.skip_datatrove:
        note += (" datatrove was not run (--skip-datatrove): at its measured ~130 docs/s at 100k it would need "
                 f"about {args.n / 130 / 3600:.1f} h here.")
    publish(f"bench_minhash_{args.n}", table + note)


if __name__ == "__main__":
    main()
