"""Driver memory of facility location vs corpus size: one process (every vector on the driver) against the
distributed path (the driver holds a bounded sample, centroids and per-partition counts).

    .venv/bin/python benchmarks/bench_select_driver.py --n 100000 --n 1000000 [--sample-rows 50000]

Each measurement runs in a fresh Python process whose peak RSS (ru_maxrss) is the driver's memory; for the
distributed path the Spark JVM (local mode: driver and executors in one JVM) is reported beside it. Vectors are
random unit vectors in 384 dimensions stored as float16 shards (the embedder's format): memory and time depend on
the count and the dimension, not on what the vectors mean; quality on real embeddings is bench_selectors.py's job.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, PeakRSS, load_now, markdown_table, parity, publish, write_claims  # noqa: E402

DIM, PER_SHARD = 384, 2048


def shards(n: int) -> tuple[Path, list[str]]:
    from gristmill.selectors.embed import shard_key, write_shard
    folder = CACHE / f"select_driver_{n}"
    listing = folder / "keys.json"
    if listing.exists():
        return folder, json.loads(listing.read_text())
    rng = np.random.default_rng(0)
    keys = []
    for lo in range(0, n, PER_SHARD):
        ids = [f"v{i:08d}" for i in range(lo, min(n, lo + PER_SHARD))]
        X = rng.normal(size=(len(ids), DIM)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        k = shard_key(ids)
        write_shard(folder, k, ids, X, dtype="float16")
        keys.append(k)
    listing.write_text(json.dumps(keys))
    return folder, keys


def child(mode: str, n: int, sample_rows: int) -> dict:
    from gristmill.selectors.facility_location import FacilityLocation
    folder, keys = shards(n)
    sel = FacilityLocation(seed=0)
    t0 = time.perf_counter()
    if mode == "one process":
        from gristmill.selectors.embed import load_embeddings
        _, X = load_embeddings(folder, keys)
        out = sel.select(X, 0.1)
        picked, jvm = len(out.indices), 0.0
    else:
        from gristmill.pipeline.spark import SparkConfig, get_spark
        from gristmill.selectors import spark_select
        spark = get_spark(SparkConfig(master="local[2]", driver_memory="4g", shuffle_partitions=64))
        with PeakRSS() as rss:
            ranked, _, assigned = spark_select.facility_location(spark, sel, folder, keys, n, 0.1, sample_rows)
            picked = ranked.count()
            assigned.unpersist()
        jvm = rss.mb["children_mb"]
    seconds = time.perf_counter() - t0
    driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "picked": picked, "driver_mb": driver_mb, "jvm_and_workers_mb": jvm}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append")
    ap.add_argument("--sample-rows", type=int, default=50_000)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "N"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.sample_rows)))
        return
    rows, got_by = [], {}
    sizes = sorted(args.n or [100_000, 1_000_000])
    for n in sizes:
        shards(n)
        for mode in ("one process", "distributed"):
            r = subprocess.run([sys.executable, __file__, "--child", mode, str(n), "--sample-rows",
                                str(args.sample_rows)], capture_output=True, text=True)
            if r.returncode:
                sys.exit(r.stderr[-3000:])
            got = json.loads(r.stdout.strip().splitlines()[-1])
            got_by[mode, n] = got
            print(f"[bench_select_driver] {n:,} {mode}: {got}", file=sys.stderr, flush=True)
            rows.append([f"{n:,}", mode, got["seconds"], got["picked"], got["driver_mb"],
                         got["jvm_and_workers_mb"] or "-"])
    text = (f"Facility location (the default: probed kNN graph, 10% budget) on {DIM}-d float16 shards; "
            f"distributed sample_rows={args.sample_rows:,}; load average {load_now()} on {os.cpu_count()} cores. "
            f"Driver peak RSS is the "
            f"driver Python process's ru_maxrss; the distributed path's JVM (local[2]: driver and executors in one "
            f"JVM, so it holds the cached vectors an executor would hold on a cluster) and Python workers are in "
            f"the last column.\n\n"
            + markdown_table(["vectors", "path", "seconds", "picked", "driver peak RSS MB",
                              "Spark JVM + workers MB"], rows))
    publish("select_driver", text)
    hi = sizes[-1]
    at_hi = got_by["distributed", hi]["driver_mb"] / got_by["one process", hi]["driver_mb"]
    claims = [{"measure": f"driver peak RSS, facility location 10% of {hi:,} vectors: distributed (gristmill) vs "
                          f"one process (peer), MB",
               "gristmill": round(got_by["distributed", hi]["driver_mb"], 1),
               "peer": round(got_by["one process", hi]["driver_mb"], 1), "ratio": round(at_hi, 3),
               "goal": "< 1 (the driver holds less than every vector)", "met": bool(at_hi < 1),
               "parity": parity()}]
    if len(sizes) > 1:
        lo = sizes[0]
        dist = got_by["distributed", hi]["driver_mb"] / got_by["distributed", lo]["driver_mb"]
        one = got_by["one process", hi]["driver_mb"] / got_by["one process", lo]["driver_mb"]
        claims.append({
            "measure": f"driver peak RSS growth {hi:,} / {lo:,} vectors, facility location 10%: distributed "
                       f"(gristmill) vs one process (peer)",
            "gristmill": round(dist, 3), "peer": round(one, 3), "ratio": round(dist, 3),
            "goal": "<= 1.25 (flat) while one process grows", "met": bool(dist <= 1.25 and one > dist),
            "parity": parity()})
    write_claims("select_driver", claims)

if __name__ == "__main__":
    main()
