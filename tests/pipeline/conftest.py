"""Fixtures the pipeline tests share: one small real run to inspect and report on."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from helpers import TEST_DATA

WEB = "web/dolma_ccnet_en_head_30docs.jsonl.gz"


def real_docs() -> list[dict]:
    with gzip.open(TEST_DATA / WEB, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def build_run(spark, base: Path) -> Path:
    """Real web pages plus three hand-written edge cases: a case/space-changed exact duplicate of a real
    page, a too-short note, and a 200k-character page (dropped by a second `length` stage)."""
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    docs = real_docs()
    orig = next(d for d in docs if 1000 < len(d["text"]) < 5000)
    extra = [
        {"id": "zz-dup", "text": "  " + orig["text"].upper().replace(" ", "   "), "metadata": {"url": "http://copy/"}},
        {"id": "zz-short", "text": "Too short to keep.", "metadata": {"url": None}},
        {"id": "zz-huge", "text": (orig["text"] + "\n") * (200_000 // len(orig["text"]) + 1),
         "metadata": {"url": "http://huge/"}},
    ]
    own = base / "extra.jsonl"
    own.write_text("".join(json.dumps(d) + "\n" for d in extra))
    raw = {"name": "insp", "input": {"format": "jsonl", "path": [str(TEST_DATA / WEB), str(own)],
                                      "text_field": "text", "url_field": "metadata.url"},
           "stages": [{"length": {"min_chars": 200, "min_words": 30}},
                      {"dedup_exact": {}}, {"length": {"max_chars": 100_000}}]}
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, runs_dir=base / "runs", quiet=True, raw_config=raw).run()
    (run / "orig_id").write_text(orig["id"])
    return run


@pytest.fixture(scope="session")
def inspect_run(spark, tmp_path_factory) -> Path:
    """One small real run that the inspection and report tests share (Spark time is scarce)."""
    return build_run(spark, tmp_path_factory.mktemp("inspect"))
