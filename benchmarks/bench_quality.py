"""Quality heuristics: gristmill `quality` (Gopher repetition + Gopher quality + C4 + FineWeb) vs datatrove's
GopherRepetitionFilter + GopherQualityFilter + FineWebQualityFilter + C4QualityFilter with the same
thresholds (both use the published defaults), on the real CommonCrawl sample repeated to N documents.

- gristmill runs as a Spark stage (local[2]) over all N rows, and also in one process (per-core rate).
- datatrove runs its four filters chained (C4 last, since it rewrites the text) on one core over a
  subset, because it manages only ~30 docs/s chained.
- Agreement of the keep/drop decision is measured on the unique documents, with gristmill's paper
  n-gram definition and with `datatrove_compat: true`; disagreements are listed with both reasons.

    .venv/bin/python benchmarks/bench_quality.py --n 20000 --peer-n 1000
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PeakRSS, load_now, markdown_table, publish, repeated_jsonl, timed, web_docs, write_claims  # noqa: E402

from gristmill.stages.quality.c4 import C4Config  # noqa: E402

from gristmill.stages.quality.stage import Quality, QualityConfig, QualityScorer  # noqa: E402


def c4_line_removal() -> bool:
    """Whether this checkout's quality stage does C4's line removal (H2's change); until it does, every
    gristmill row is labelled 'without C4 line removal' and is not like for like with datatrove's C4."""
    return "remove_lines" in C4Config.model_fields


def like_for_like() -> dict:
    """Quality settings for the comparison: C4 with datatrove's preset where the stage has one."""
    return {"c4": {"preset": "datatrove", "remove_lines": True}} if "preset" in C4Config.model_fields else {}


def datatrove_chain():
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)
    return [GopherRepetitionFilter(), GopherQualityFilter(), FineWebQualityFilter(), C4QualityFilter()]


def datatrove_decide(filters, text: str) -> str | None:
    from datatrove.data import Document
    doc = Document(text=text, id="x")
    for f in filters:
        try:
            res = f.filter(doc)
        except ZeroDivisionError:  # datatrove divides by the word count: empty documents raise
            return f"{f.name}:error"
        if res is not True:
            reason = res[1] if isinstance(res, tuple) else ""
            return f"{f.name.split()[-1].lower()}:{reason}"
    return None


def spark_run(path: Path, n: int) -> float:
    from gristmill.pipeline.spark import SparkConfig, get_spark
    spark = get_spark(SparkConfig(master="local[2]", driver_memory="3g", shuffle_partitions=4))
    schema = "id string, text string, url string, source string"
    stage = Quality(QualityConfig.model_validate(like_for_like()))
    df = spark.read.schema(schema).json(str(path)).repartition(8)
    df.count()  # warm the JVM and file cache outside the timing
    t0 = time.perf_counter()
    stage.transform(spark.read.schema(schema).json(str(path)).repartition(8)).write.format("noop").mode(
        "overwrite").save()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="documents for the gristmill Spark run")
    ap.add_argument("--peer-n", type=int, default=1_000, help="documents for the datatrove run")
    ap.add_argument("--cores", type=int, default=2, help="cores Spark uses (local[2])")
    args = ap.parse_args(argv)
    docs = web_docs()
    texts = [d["text"] for d in docs]
    load = load_now()
    lines = c4_line_removal()
    gm = "gristmill" if lines else "gristmill without C4 line removal"

    filters = datatrove_chain()
    peer_texts = [texts[i % len(texts)] for i in range(args.peer_n)]
    with timed() as t_peer:
        [datatrove_decide(filters, t) for t in peer_texts]
    peer_rate = args.peer_n / t_peer["seconds"]

    scorer = QualityScorer(QualityConfig.model_validate(like_for_like()))
    one_n = min(args.n, 5_000)
    one_texts = [texts[i % len(texts)] for i in range(one_n)]
    with timed() as t_one:
        scorer.score(one_texts)
    one_rate = one_n / t_one["seconds"]

    path = repeated_jsonl(docs, args.n, "web")
    with PeakRSS() as rss:
        spark_s = spark_run(path, args.n)
    spark_rate = args.n / spark_s

    rows = [["datatrove 4 filters chained (C4 removes lines)", args.peer_n, 1, peer_rate, peer_rate, 1.0, "-"],
            [f"{gm} quality, one process", one_n, 1, one_rate, one_rate, one_rate / peer_rate, "-"],
            [f"{gm} quality, Spark local[{args.cores}]", args.n, args.cores, spark_rate,
             spark_rate / args.cores, spark_rate / args.cores / peer_rate, f"{rss.mb['total_mb']:.0f}"]]
    speed = markdown_table(["system", "docs", "cores", "docs/s", "docs/s per core", "per-core ratio vs datatrove",
                            "peak RSS MB"], rows)

    peer = [datatrove_decide(filters, t) for t in texts]
    agree_rows, lists = [], []
    for label, compat in (("paper n-gram definition", False), ("datatrove_compat", True)):
        cfg = QualityConfig.model_validate({**like_for_like(), "gopher_repetition": {"datatrove_compat": compat}})
        _, ours = QualityScorer(cfg).score(texts)
        diff = [(i, o, p) for i, (o, p) in enumerate(zip(ours, peer)) if (o is None) != (p is None)]
        agree_rows.append([label, len(texts), sum(o is None for o in ours), sum(p is None for p in peer),
                           1 - len(diff) / len(texts)])
        lists.append(f"\n**Disagreements ({label}, {len(diff)}):**\n\n" + markdown_table(
            ["doc", "words", "gristmill", "datatrove"],
            [[docs[i]["id"], len(texts[i].split()), o or "keep", p or "keep"] for i, o, p in diff]))
    claims = [{"measure": f"quality docs/s per core vs datatrove ({gm}; datatrove with C4 line removal)",
               "gristmill": round(spark_rate / args.cores, 1), "peer": round(peer_rate, 1),
               "ratio": round(spark_rate / args.cores / peer_rate, 2), "goal": ">= 10x, C4 line removal both",
               "met": (spark_rate / args.cores / peer_rate >= 10) if lines else "not like for like", "load": load},
              {"measure": f"quality keep/drop agreement with datatrove ({gm}, paper n-grams)",
               "gristmill": round(agree_rows[0][4], 4), "peer": "-", "ratio": "-", "goal": ">= 0.99",
               "met": (agree_rows[0][4] >= 0.99) if lines else "not like for like", "load": load}]
    write_claims("bench_quality", claims)
    agree = markdown_table(["gristmill mode", "unique docs", "kept (gristmill)", "kept (datatrove)", "agreement"],
                           agree_rows)
    label = ("" if lines else "**Not like for like yet: gristmill's quality stage in this checkout does not do C4's "
             "line removal; datatrove's C4QualityFilter does (and rewrites the text).** ")
    publish("bench_quality", f"{label}Load (1/5/15) at the start: {load}.\n\n### Throughput (N={args.n:,}; datatrove on {args.peer_n:,})\n\n{speed}\n\n"
                             f"### Keep/drop agreement\n\n{agree}\n" + "\n".join(lists))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
