"""Where the quality stage's CPU time goes, at parity (datatrove's definitions and chain order, gristmill's
tokenizer on both sides), on distinct documents: the per-batch scorer in one process against datatrove's four
filters, then the stage in Spark local[2] with the CPU of the JVM and its Python workers counted (the read +
identity mapInArrow floor beside it).

CPU time (process_time, /proc for Spark's process tree), so a loaded machine slows both sides alike where wall
clock would mostly time the other users; the top functions of gristmill's cProfile are printed.

    .venv/bin/python benchmarks/profile_quality.py --n 5000
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from pathlib import Path

import corpora
from bench_quality import datatrove_chain, datatrove_decide, like_for_like
from harness import load_now

from gristmill.stages.quality.stage import Quality, QualityConfig, QualityScorer

BATCH = 2048  # the runner's spark.sql.execution.arrow.maxRecordsPerBatch


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by process `root` and its live descendants (with the children they reaped)."""
    info = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2:].split()
        info[int(p)] = (int(f[1]), sum(int(x) for x in f[11:15]))
    kids: dict[int, list[int]] = {}
    for p, (parent, _) in info.items():
        kids.setdefault(parent, []).append(p)
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += info.get(p, (0, 0))[1]
        todo += kids.get(p, [])
    return total / os.sysconf("SC_CLK_TCK")


def in_process(texts: list[str], peer_n: int) -> None:
    scorer = QualityScorer(QualityConfig.model_validate(like_for_like()))
    scorer.score(texts[:50])
    filters = datatrove_chain()
    [datatrove_decide(filters, t) for t in texts[:20]]
    c = time.process_time()
    for i in range(0, len(texts), BATCH):
        scorer.score(texts[i:i + BATCH])
    ours = len(texts) / (time.process_time() - c)
    c = time.process_time()
    [datatrove_decide(filters, t) for t in texts[:peer_n]]
    peer = peer_n / (time.process_time() - c)
    print(f"one process, CPU docs/s: gristmill {ours:,.0f}, datatrove {peer:,.0f} ({ours / peer:.2f}x)")
    prof = cProfile.Profile()
    prof.enable()
    scorer.score(texts[:BATCH])
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    print(out.getvalue())


def in_spark(folder: Path, n: int, runs: int) -> None:
    from gristmill.pipeline.spark import SparkConfig, get_spark
    spark = get_spark(SparkConfig(master="local[2]", driver_memory="3g", shuffle_partitions=4))
    jvm = spark.sparkContext._gateway.proc.pid
    files = [str(p) for p in corpora.jsonl_files(folder)]
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(sum(Path(p).stat().st_size for p in files) // 2 + 1))

    def df():
        return spark.read.schema("id string, text string, source string").json(files)
    stage = Quality(QualityConfig.model_validate(like_for_like()))
    jobs = [("quality stage", lambda: stage.transform(df())),
            ("floor: read + identity mapInArrow", lambda: df().mapInArrow(lambda it: it, df().schema))]
    for _, job in jobs:
        job().write.format("noop").mode("overwrite").save()  # JVM, workers and file cache warm
    for label, job in jobs:
        for _ in range(runs):
            c, t = tree_cpu(jvm), time.perf_counter()
            job().write.format("noop").mode("overwrite").save()
            wall, cpu = time.perf_counter() - t, tree_cpu(jvm) - c
            print(f"Spark local[2], {label}: {n:,} docs, wall {wall:.2f} s, CPU {cpu:.2f} s "
                  f"({n / cpu:,.0f} docs per CPU-second)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--peer-n", type=int, default=700)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    folder = corpora.build(args.n)
    texts = [d["text"] for d in corpora.read_docs(folder)]
    print(f"load (1/5/15): {load_now()}; {corpora.describe(folder)}")
    in_process(texts, args.peer_n)
    in_spark(folder, args.n, args.runs)


if __name__ == "__main__":
    main()
