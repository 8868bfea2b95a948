"""Rephrase (WRAP) stage throughput vs the backend's own raw generation, on the same chunks and settings.

In-process: the stage in Spark (one partition, so one worker uses the cores, as raw generate does) against
`TransformersBackend.raw_generate` called directly in batches of the same size over the same rendered
prompts. Endpoint: the stage with backend: openai against the same requests sent straight to the server
with the same client and concurrency. Both against a real `transformers serve` / the real SmolLM2-135M.
The worker's model load is excluded (a warm-up run loads it), so the ratio is steady-state throughput;
the rerun row is the same stage again with its generation cache full.

    python benchmarks/bench_rephrase.py --docs 8 --styles medium qa --max-new-tokens 48
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "stages" / "rephrase"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness import WEB, markdown_table, publish, read_jsonl  # noqa: E402


def run_stage(spark, params, docs, work: Path):
    """The stage in one Spark pass; returns (seconds, synthetic rows, stats)."""
    from gristmill.pipeline.stage import StageContext, get_stage
    cls = get_stage("rephrase")
    df = spark.createDataFrame(docs).coalesce(1)
    ctx = StageContext(spark=spark, run_dir=work, work_dir=work, stage_dir=work, index=1, name="rephrase", extra={})
    stage = cls(cls.Config.model_validate(params), ctx)
    stage.preflight()
    t0 = time.perf_counter()
    rows = stage.transform(df).filter("origin = 'synthetic'").select("tokens_out").collect()
    return time.perf_counter() - t0, rows, stage.stats()


def chunks_of(docs, params, counter):
    """The conversations the stage will send: every chunk of every document in every style."""
    from gristmill.stages.rephrase.chunking import chunk_text
    from gristmill.stages.rephrase.prompts import resolve_styles
    from gristmill.stages.rephrase.stage import RephraseConfig
    cfg = RephraseConfig(**params)
    styles = resolve_styles(cfg.styles, cfg.custom_styles, cfg.system_prompt)
    return [s.messages(c) for d in docs for c in chunk_text(d["text"], counter, cfg.max_chunk_tokens,
                                                            cfg.min_chunk_tokens) for s in styles]


def raw_tokens_per_batch(backend, convs, settings, batch_size):
    """model.generate alone over the same prompts in the same length-sorted batches: generated tokens."""
    prompts = sorted(backend.render(convs), key=len)
    total = 0
    for i in range(0, len(prompts), batch_size):
        ids, _ = backend.raw_generate(prompts[i:i + batch_size], settings)
        for row in ids:
            stop = next((k for k, t in enumerate(row) if t in backend.eos_ids), None)
            total += len(row) if stop is None else stop + 1
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=8)
    ap.add_argument("--styles", nargs="+", default=["medium", "qa"])
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--max-chunk-tokens", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--input", default=str(WEB), help="jsonl(.gz) of real web documents with id and text")
    ap.add_argument("--endpoint-docs", type=int, default=2, help="documents for the endpoint rows (0: skip)")
    args = ap.parse_args()

    from gristmill.pipeline.spark import SparkConfig, get_spark
    from gristmill.stages.rephrase.backends import (EndpointSettings, GenSettings, OpenAIBackend,
                                                    TransformersBackend)
    from gristmill.stages.rephrase.chunking import TokenCounter
    from gristmill.stages.rephrase.model import default_model_dir
    from test_endpoint import free_port, transformers_serve

    model_dir = default_model_dir()
    counter = TokenCounter(model_dir / "tokenizer.json")
    docs = [{"id": str(d["id"]), "text": d["text"], "source": "web"} for d in read_jsonl(Path(args.input))
            if 200 < len(d.get("text") or "") < 3000][: args.docs]
    common = dict(styles=args.styles, max_new_tokens=args.max_new_tokens, max_chunk_tokens=args.max_chunk_tokens,
                  batch_size=args.batch_size, check_language=True)
    convs = chunks_of(docs, common, counter)
    settings = GenSettings(max_new_tokens=args.max_new_tokens, temperature=0.0, top_p=1.0, seed=0)
    rows = []

    def add(row):  # print as measured, so a killed run still shows what it got
        rows.append(row)
        print("measured:", row, file=sys.stderr, flush=True)

    # -- raw batched generate, in this process --------------------------------------------------------
    import torch
    # PySpark starts Python workers with OMP_NUM_THREADS = spark.task.cpus (1), so the stage's worker runs
    # torch on one thread; the raw run gets the same, or the comparison measures thread counts, not the stage
    torch.set_num_threads(1)
    backend = TransformersBackend(model_dir, args.batch_size)
    backend.generate(convs[:1], settings)  # warm-up
    t0 = time.perf_counter()
    raw_tokens = raw_tokens_per_batch(backend, convs, settings, args.batch_size)
    raw_s = time.perf_counter() - t0
    add(["transformers raw generate", len(convs), raw_tokens, raw_s, raw_tokens / raw_s, len(convs) / raw_s,
                 1.0])
    del backend

    # -- the stage ------------------------------------------------------------------------------------
    spark = get_spark(SparkConfig(master="local[1]", driver_memory="2g", shuffle_partitions=1))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_stage(spark, dict(common, cache_dir=str(tmp / "warm")), docs[:1], tmp / "w")  # loads the worker's model
        secs, syn, stats = run_stage(spark, dict(common, cache_dir=str(tmp / "c")), docs, tmp / "a")
        toks = stats["tokens_generated"]
        add(["rephrase stage, transformers", len(syn), toks, secs, toks / secs, len(syn) / secs,
                     (toks / secs) / (raw_tokens / raw_s)])
        secs2, syn2, stats2 = run_stage(spark, dict(common, cache_dir=str(tmp / "c")), docs, tmp / "b")
        add([f"rerun, cache full ({stats2['cache_hits']} hits, {stats2['generated']} generated)", len(syn2), 0,
                     secs2, 0.0, len(syn2) / secs2, ""])

        # -- endpoint -----------------------------------------------------------------------------------
        if args.endpoint_docs:
            edocs = docs[: args.endpoint_docs]
            econvs = chunks_of(edocs, common, counter)
            port = free_port()
            endpoint = EndpointSettings(base_url=f"http://127.0.0.1:{port}/v1", model=str(model_dir), concurrency=4,
                                        timeout_s=600)
            with transformers_serve(model_dir, port):
                client = OpenAIBackend(endpoint)
                client.generate(econvs[:1], settings)  # warm-up
                t0 = time.perf_counter()
                egens = client.generate(econvs, settings)
                e_raw_s = time.perf_counter() - t0
                e_tokens = sum(g.tokens_out or 0 for g in egens)
                add(["endpoint raw requests (openai client)", len(econvs), e_tokens, e_raw_s,
                             e_tokens / e_raw_s, len(econvs) / e_raw_s, 1.0])
                eparams = dict(common, backend="openai", base_url=endpoint.base_url, model=endpoint.model,
                               concurrency=4, timeout_s=600)
                run_stage(spark, dict(eparams, cache_dir=str(tmp / "ew")), edocs[:1], tmp / "ew")
                secs, syn, stats = run_stage(spark, dict(eparams, cache_dir=str(tmp / "ec")), edocs, tmp / "ea")
                toks = stats["tokens_generated"]
                add(["rephrase stage, openai backend", len(syn), toks, secs, toks / secs, len(syn) / secs,
                             (toks / secs) / (e_tokens / e_raw_s)])
    spark.stop()
    head = (f"Rephrase (WRAP), SmolLM2-135M-Instruct on CPU ({os.cpu_count()} cores, shared machine; no GPU lent "
            f"to this task), {len(docs)} CommonCrawl docs, styles {args.styles}, max_new_tokens "
            f"{args.max_new_tokens}, batch {args.batch_size}, greedy. Ratio = stage tokens/s over the raw "
            f"backend's on the same chunks (goal >= 0.9).\n\n")
    publish("rephrase", head + markdown_table(["what", "generations", "tokens generated", "seconds", "tokens/s",
                                               "chunks/s", "ratio to raw"], rows))


if __name__ == "__main__":
    main()
