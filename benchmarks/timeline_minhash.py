"""Where a gristmill MinHash (or exact dedup) run's wall time goes: the Spark jobs of one run, read from Spark's
own event log (job submission and completion times, the line of gristmill code that started each job), beside
the runner's stage seconds and the JVM's start.

    .venv/bin/python benchmarks/timeline_minhash.py --n 20000            # dedup_minhash, LSH only
    .venv/bin/python benchmarks/timeline_minhash.py --n 20000 --exact    # dedup_exact, no normalization
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import corpora
from harness import CACHE, load_now


def jobs(event_dir: Path) -> list[dict]:
    """(start s, seconds, tasks, call site) of every Spark job in the event log, in submission order."""
    starts, out = {}, []
    for f in (p for p in event_dir.rglob("*") if p.is_file()):
        for line in f.read_text().splitlines():
            ev = json.loads(line)
            kind = ev.get("Event")
            if kind == "SparkListenerJobStart":
                props = ev.get("Properties") or {}
                site = props.get("spark.job.description") or props.get("callSite.short") or "?"
                tasks = sum(s.get("Number of Tasks", 0) for s in ev.get("Stage Infos", []))
                starts[ev["Job ID"]] = (ev["Submission Time"], site, tasks)
            elif kind == "SparkListenerJobEnd" and ev["Job ID"] in starts:
                t0, site, tasks = starts[ev["Job ID"]]
                out.append({"t0": t0, "secs": (ev["Completion Time"] - t0) / 1000, "tasks": tasks, "site": site})
    out.sort(key=lambda j: j["t0"])
    return out


def label_jobs(spark) -> None:
    """Name the Spark jobs after the gristmill step that starts them (job descriptions in the event log)."""
    from gristmill.pipeline import runner, stage
    from gristmill.stages.dedup import components, minhash

    def named(owner, attr, label=None):
        fn = getattr(owner, attr)

        def wrapper(*a, **k):
            name = label or (f"save_artifact {a[2]}" if attr == "save_artifact" else attr)
            prev = spark.sparkContext.getLocalProperty("spark.job.description")
            spark.sparkContext.setJobDescription(name)
            try:
                return fn(*a, **k)
            finally:
                spark.sparkContext.setJobDescription(prev)
        setattr(owner, attr, wrapper)

    named(stage.FitStage, "save_artifact")
    for attr in ("run_read_stage", "write_split", "check_identity", "split_scope"):
        named(runner, attr)
    named(minhash.DedupMinhash, "_summary")
    named(components, "connected_components")
    named(stage.Stage, "counters")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--exact", action="store_true", help="time dedup_exact instead of dedup_minhash")
    args = ap.parse_args()
    folder = corpora.build(args.n)
    work = Path(tempfile.mkdtemp(prefix="timeline-", dir=CACHE))
    events = work / "events"
    events.mkdir()
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    from gristmill.pipeline.spark import SparkConfig, get_spark
    stage = {"dedup_exact": {"normalize": False}} if args.exact else {"dedup_minhash": {"threshold": None}}
    spark_cfg = {"master": "local[2]", "driver_memory": "4g", "shuffle_partitions": 8,
                 "conf": {"spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{events}",
                          "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"}}
    raw = {"name": "timeline", "input": {"format": "jsonl", "path": str(folder / "*.jsonl")},
           "spark": spark_cfg, "stages": [stage]}
    cfg, stages = parse_config(raw)
    load = load_now()
    t0 = time.perf_counter()
    spark = get_spark(SparkConfig(**spark_cfg))
    t_jvm = time.perf_counter() - t0
    label_jobs(spark)
    run = Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=work / "runs", quiet=True).run(force=True)
    total = time.perf_counter() - t0
    manifest = json.loads((run / "manifest.json").read_text())
    spark.stop()  # flushes the event log
    print(f"n={args.n:,}, load {load}: total {total:.1f} s, JVM + session start {t_jvm:.1f} s")
    for st in manifest["stages"]:
        print(f"  stage {st['dir']}: {st.get('seconds')} s")
    js = jobs(events)
    base = js[0]["t0"] if js else 0
    print(f"{len(js)} Spark jobs, {sum(j['secs'] for j in js):.1f} s in jobs:")
    for j in js:
        print(f"  +{(j['t0'] - base) / 1000:6.1f} s  {j['secs']:6.2f} s  {j['tasks']:4d} tasks  {j['site']}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
