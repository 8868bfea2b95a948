"""Where MinHash's CPU time goes, per core, at parity: gristmill's Python worker function (the mapInArrow body
`_signature_batches`, on Arrow batches as Spark hands them) against datatrove's signature step's per-document
work (`get_shingles` + `get_signature` with gristmill's tokenizer), on the same distinct documents.

CPU time (time.process_time), so a loaded machine slows both sides alike; the top functions of gristmill's
cProfile are printed. This is the signature step only: Spark's read, shuffle and LSH grouping and datatrove's
bucket/cluster/filter steps are not in it.

    .venv/bin/python benchmarks/profile_minhash.py --n 20000
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time

import corpora
import pyarrow as pa
from harness import load_now
from parity import PARITY_NORM, MinhashTokenizer

from gristmill.stages.dedup.minhash import DedupMinhashConfig, _signature_batches

BATCH = 10_000  # Spark's spark.sql.execution.arrow.maxRecordsPerBatch default


def gristmill_cpu(texts: list[str], profile: bool) -> tuple[float, str]:
    cfg = DedupMinhashConfig.model_validate({"threshold": None, "device": "cpu"})
    batches = [pa.RecordBatch.from_pydict({"id": [str(i) for i in range(lo, lo + len(texts[lo:lo + BATCH]))],
                                           "text": texts[lo:lo + BATCH]}) for lo in range(0, len(texts), BATCH)]
    prof = cProfile.Profile(time.process_time) if profile else None
    t0 = time.process_time()
    if prof:
        prof.enable()
    for _ in _signature_batches(cfg, False, iter(batches)):
        pass
    if prof:
        prof.disable()
    secs = time.process_time() - t0
    out = io.StringIO()
    if prof:
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    return secs, out.getvalue()


def datatrove_cpu(texts: list[str]) -> float:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.utils.hashing import HashConfig
    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(precision=64),
                        norm_config=PARITY_NORM)
    with tempfile.TemporaryDirectory() as tmp:
        step = MinhashDedupSignature(tmp, config=cfg, language=MinhashTokenizer())
        t0 = time.process_time()
        for t in texts:
            sh = step.get_shingles(t)
            if len(sh):
                step.get_signature(sh)
        return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    args = ap.parse_args()
    folder = corpora.build(args.n)
    texts = [d["text"] for d in corpora.read_docs(folder)]
    load = load_now()
    gristmill_cpu(texts[:200], False)  # tables (word characters, powers) built outside the timing
    gm, _ = gristmill_cpu(texts, False)
    _, prof = gristmill_cpu(texts, True)
    dt = datatrove_cpu(texts)
    print(f"{corpora.describe(folder)}; load {load}\n")
    print(f"signature step, CPU seconds for {args.n:,} docs: gristmill {gm:.2f} s ({args.n / gm:,.0f} docs/s/core), "
          f"datatrove at parity {dt:.2f} s ({args.n / dt:,.0f} docs/s/core), ratio {dt / gm:.2f}x\n")
    print(prof)


if __name__ == "__main__":
    main()
