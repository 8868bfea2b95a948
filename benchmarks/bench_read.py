"""The read stage on a user's file layouts: many small files, and one large jsonl (issues 25.7 and 27).

Both layouts hold distinct real documents (benchmarks/corpora.py: one document per small .txt file; the jsonl is
the corpus's documents, in order, until it reaches its size). Each is read by the real read stage (Runner,
local[2], no later stage) with read tasks planned by bytes (the default); with --per-file, also as before 25.7
(every file its own task, large plain jsonl cut at 256 MB). Prints files/s, MB/s and MB/s per core, and the
Parquet files written; the default's rows are claims against issue 27's goals (>= 1,000 small files/s; jsonl
>= 50 MB/s per core). Spark's start is outside the timing (one session for all runs); seconds are the median of
--repeat runs with the min-max.

    python benchmarks/bench_read.py [--small 5000] [--jsonl-mb 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpora  # noqa: E402
from harness import load_now, write_claims  # noqa: E402

CORES = 2


def real_docs(min_chars: int):
    """Distinct real documents from the speed corpus, in order, as many as min_chars of text needs. The corpus
    is built to the size the text so far says is needed (plus 10%), not by a fixed factor that can ask for more
    documents than the machine has."""
    n, got = 20_000, 0
    while True:
        docs = corpora.read_docs(corpora.build(n))
        for d in docs[got:]:
            yield d
            min_chars -= len(d["text"])
            if min_chars <= 0:
                return
        if len(docs) < n:
            raise SystemExit(f"bench_read: the speed corpus has only {len(docs):,} documents")
        mean = sum(len(d["text"]) for d in docs) / len(docs)
        got, n = len(docs), len(docs) + int(min_chars / mean * 1.1) + 1_000


def make_small(folder: Path, n: int) -> int:
    folder.mkdir(parents=True)
    total = 0
    for i, doc in enumerate(corpora.read_docs(corpora.build(max(n, 5000)))[:n]):
        path = folder / f"{i // 1000:02d}" / f"doc{i:05d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(doc["text"])
        total += path.stat().st_size
    return total


def make_jsonl(folder: Path, mb: int) -> int:
    folder.mkdir(parents=True)
    with open(folder / "big.jsonl", "w") as fh:
        for doc in real_docs(mb << 20):
            fh.write(json.dumps({"id": doc["id"], "text": doc["text"]}) + "\n")
            if fh.tell() >= mb << 20:
                break
    return (folder / "big.jsonl").stat().st_size


def read_once(folder: Path, fmt: str, runs: Path, per_file: bool) -> tuple[float, int, int]:
    import gristmill.pipeline.inputs.readers as readers
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    saved = readers.pack_tasks, readers.task_bytes_for
    if per_file:  # the plan before 25.7: one task per file (or per 256 MB of a plain jsonl)
        readers.pack_tasks = lambda tasks, target: [[t[:4]] for t in tasks]
        readers.task_bytes_for = lambda total, parallelism: readers.SPLIT_BYTES
    raw = {"name": "r", "input": {"path": str(folder), "format": fmt}, "spark": {"master": f"local[{CORES}]"},
           "stages": []}
    cfg, stages = parse_config(raw)
    shutil.rmtree(runs, ignore_errors=True)
    try:
        t = time.perf_counter()
        run = Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=runs, quiet=True).run()
        seconds = time.perf_counter() - t
    finally:
        readers.pack_tasks, readers.task_bytes_for = saved
    stats = json.loads((run / "00-read" / "stats.json").read_text())
    return seconds, stats["kept"], len(list((run / "00-read" / "kept").glob("*.parquet")))


def claim(fmt: str, label: str, sec: float, secs: list, nfiles: int, mb: float, load: str) -> dict:
    """No peer: issue 27 sets absolute goals for the read stage (Spark local[2], distinct real documents)."""
    where = f"read stage, {label} of distinct real documents, local[{CORES}], median of {len(secs)}"
    spread = f"{secs[0]:.1f}-{secs[-1]:.1f} s"
    if fmt == "txt":
        rate = nfiles / sec
        return {"measure": f"small files/s, {where}", "gristmill": f"{rate:,.0f} ({spread})", "peer": None,
                "ratio": None, "goal": ">= 1,000 files/s", "met": rate >= 1000, "load": load}
    rate = mb / sec / CORES
    return {"measure": f"jsonl MB/s per core, {where}", "gristmill": f"{rate:.1f} ({spread})", "peer": None,
            "ratio": None, "goal": ">= 50 MB/s per core", "met": rate >= 50, "load": load}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=5000, help="small .txt files")
    ap.add_argument("--jsonl-mb", type=int, default=200, help="size of the one large jsonl")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; the median is shown")
    ap.add_argument("--per-file", action="store_true",
                    help="also time the plan before 25.7 (one task per file: minutes for thousands of files)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_read_"))
    try:
        layouts = [("txt", f"{args.small:,} small .txt", tmp / "small", make_small(tmp / "small", args.small),
                    args.small),
                   ("jsonl", f"one {args.jsonl_mb} MB jsonl", tmp / "big", make_jsonl(tmp / "big", args.jsonl_mb), 1)]
        read_once(tmp / "small", "txt", tmp / "runs", False)  # warm: Spark's start is not timed
        print("| layout | planning | seconds (min-max) | files/s | MB/s | MB/s per core | docs | Parquet files |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        claims = []
        for fmt, label, folder, nbytes, nfiles in layouts:
            for per_file in (True, False) if args.per_file else (False,):
                load = load_now()
                runs = [read_once(folder, fmt, tmp / "runs", per_file) for _ in range(args.repeat)]
                secs = sorted(r[0] for r in runs)
                sec = statistics.median(secs)
                mb = nbytes / 1e6
                print(f"| {label} | {'per file' if per_file else 'by bytes'} | {sec:.1f} ({secs[0]:.1f}-"
                      f"{secs[-1]:.1f}) | {nfiles / sec:,.2f} | {mb / sec:.1f} | {mb / sec / CORES:.1f} | "
                      f"{runs[0][1]:,} | {runs[0][2]:,} |", flush=True)
                if not per_file:
                    claims.append(claim(fmt, label, sec, secs, nfiles, mb, load))
        write_claims("bench_read", claims)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
