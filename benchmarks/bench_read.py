"""The read stage on a user's file layouts: many small files, and one large jsonl (issue 25.7).

Each layout is read by the real read stage (Runner, local[2], no later stage) twice on the same bytes: with
read tasks planned per file (every file its own task and large plain jsonl cut at 256 MB, as before 25.7) and
planned by bytes (the default). Prints files/s, MB/s and MB/s per core, and the Parquet files written. Spark's start
is outside the timing (one session for all runs).

    python benchmarks/bench_read.py [--small 5000] [--jsonl-mb 200] [--repeat 1]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

CORES = 2


def make_small(folder: Path, n: int) -> int:
    folder.mkdir(parents=True)
    total = 0
    for i in range(n):
        text = f"Document {i}. " + "The mill ground wheat and rye for the whole valley. " * (5 + i % 40)
        (folder / f"{i // 1000:02d}" / f"doc{i:05d}.txt").parent.mkdir(exist_ok=True)
        (folder / f"{i // 1000:02d}" / f"doc{i:05d}.txt").write_text(text)
        total += len(text)
    return total


def make_jsonl(folder: Path, mb: int) -> int:
    folder.mkdir(parents=True)
    line = "The mill ground wheat and rye for the whole valley. " * 20
    with open(folder / "big.jsonl", "w") as fh:
        i = 0
        while fh.tell() < mb << 20:
            fh.write(json.dumps({"id": f"d{i}", "text": f"{i} {line}"}) + "\n")
            i += 1
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=5000, help="small .txt files")
    ap.add_argument("--jsonl-mb", type=int, default=200, help="size of the one large jsonl")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row; the median is shown")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_read_"))
    try:
        layouts = [("txt", f"{args.small:,} small .txt", tmp / "small", make_small(tmp / "small", args.small),
                    args.small),
                   ("jsonl", f"one {args.jsonl_mb} MB jsonl", tmp / "big", make_jsonl(tmp / "big", args.jsonl_mb), 1)]
        read_once(tmp / "small", "txt", tmp / "runs", False)  # warm: Spark's start is not timed
        print("| layout | planning | seconds | files/s | MB/s | MB/s per core | docs | Parquet files |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for fmt, label, folder, nbytes, nfiles in layouts:
            for per_file in (True, False):
                runs = [read_once(folder, fmt, tmp / "runs", per_file) for _ in range(args.repeat)]
                sec = statistics.median(r[0] for r in runs)
                mb = nbytes / 1e6
                print(f"| {label} | {'per file' if per_file else 'by bytes'} | {sec:.1f} | {nfiles / sec:,.2f} | "
                      f"{mb / sec:.1f} | {mb / sec / CORES:.1f} | {runs[0][1]:,} | {runs[0][2]:,} |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
