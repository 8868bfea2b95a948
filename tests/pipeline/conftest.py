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


DOMAINS = "domains/domain_mix_permissive.jsonl.gz"
QUALITY = "quality/dclm_human_quality_labels_120.jsonl.gz"


def build_full_run(spark, base: Path) -> Path:
    """Every step on real committed text: read -> langid -> exact + MinHash dedup -> quality (rules and a
    fastText classifier trained here with `gristmill train-quality`) -> domain -> select -> mix -> train.

    Two hand-made copies of a real code file (one case/space-changed, one with a line edited) make sure
    both dedup stages have something to find."""
    from gristmill.pipeline.cli import main as cli
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    from gristmill.trainer_hooks.train import TrainConfig, train

    with gzip.open(TEST_DATA / QUALITY, "rt", encoding="utf-8") as fh:
        labelled = [json.loads(line) for line in fh]
    for name, label in (("good", 1), ("bad", 0)):
        (base / f"{name}.jsonl").write_text("".join(json.dumps({"text": r["text"]}) + "\n"
                                                    for r in labelled if r["label"] == label))
    model = base / "quality.bin"
    assert cli(["train-quality", "--positive", str(base / "good.jsonl"), "--negative", str(base / "bad.jsonl"),
                "-o", str(model), "--epochs", "10"]) == 0

    with gzip.open(TEST_DATA / DOMAINS, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh]
    code = next(d for d in docs if d["domain"] == "code" and len(d["text"]) >= 2500)
    lines = code["text"].splitlines()
    extra = [{"id": "zz-exact", "domain": "code", "text": "  " + code["text"].upper()},
             {"id": "zz-near", "domain": "code", "text": "\n".join(lines[:-1] + ["# edited: " + lines[-1]])}]
    own = base / "extra.jsonl"
    own.write_text("".join(json.dumps(d) + "\n" for d in extra))
    raw = {"name": "full", "input": {"format": "jsonl", "path": [str(TEST_DATA / DOMAINS), str(own)],
                                      "keep_fields": ["domain"], "url_field": None},
           "stages": [{"normalize": {}},
                      {"langid": {"languages": ["en"], "min_score": 0.3}},
                      {"dedup_exact": {}},
                      {"dedup_minhash": {"threshold": 0.7}},
                      {"quality": {"rules": ["fineweb"],
                                   "fineweb": {"min_line_punct_ratio": None, "max_char_dup_ratio": 0.1},
                                   "classifier": {"model_path": str(model), "threshold": 0.02}}},
                      {"domain": {"from": "column", "column": "domain"}}],
           "select": {"selector": "facility_location", "budget": 0.5, "max_tokens": 32, "params": {"k": 5}},
           "mix": {"weights": "temperature", "vocab_size": 512, "heldout_fraction": 0.15}}
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, runs_dir=base / "runs", quiet=True, raw_config=raw).run()
    (run / "dup_of").write_text(code["id"])
    train(TrainConfig.model_validate({
        "mixture": str(run / "mixture.json"), "out_dir": str(run / "train"), "steps": 6, "batch_size": 4,
        "block_size": 32, "model": {"n_layer": 1, "n_head": 2, "n_embd": 32}, "warmup": 1, "log_every": 2,
        "eval_every": 3, "eval_batches": 1, "ckpt_every": 6,
        "schedule": {"type": "temperature", "upsample": {"domains": ["math"], "factor": 2, "last_fraction": 0.5}}}),
        quiet=True)
    return run


@pytest.fixture(scope="session")
def full_run(spark, tmp_path_factory) -> Path:
    """A real run through selection, mixing and training that the report and inspect tests share."""
    return build_full_run(spark, tmp_path_factory.mktemp("full"))
