"""The select stage in Spark, a tiny pipeline, and `gristmill select` / `gristmill embed`."""
from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest
from helpers import TEST_DATA, run_stage

from gristmill.pipeline.stage import StageError


@pytest.fixture(scope="module")
def docs():
    with gzip.open(TEST_DATA / "web" / "datajuicer_redpajama_cc_c4_20docs.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh][:12]
    return [{"id": f"c4-{i}", "text": r["text"]} for i, r in enumerate(rows)]


def test_facility_location_stage(spark, tmp_path, docs):
    params = {"selector": "facility_location", "budget": 0.5, "max_tokens": 32, "params": {"k": 4}}
    kept, rejected, stats = run_stage(spark, "select", params, docs, tmp_path)
    assert len(kept) == 6 and len(rejected) == 6
    assert {r["drop_reason"] for r in rejected} == {"select:facility_location"}
    assert sorted(r["select_rank"] for r in kept) == list(range(1, 7))
    assert all(r["select_rank"] is None for r in rejected)
    assert sum(r["select_weight"] for r in kept) <= 12 and stats["objective"] > 0
    sel = pq.read_table(tmp_path / "stage-select" / "selection" / "selection.parquet").to_pylist()
    assert {r["id"] for r in sel} == {r["id"] for r in kept}
    diag = json.loads((tmp_path / "stage-select" / "selection" / "diagnostics.json").read_text())
    assert diag["diagnostics"]["coverage_curve"][-1][0] == 6


def test_dsir_stage_scores_in_spark(spark, tmp_path, docs):
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": d["text"]}) + "\n" for d in docs[:2]))
    params = {"selector": "dsir", "budget": 4, "target": str(target)}
    kept, rejected, _ = run_stage(spark, "select", params, docs, tmp_path)
    assert len(kept) == 4 and {r["drop_reason"] for r in rejected} == {"select:dsir"}
    # importance weights were computed in the workers and drive the Gumbel top-k draw
    assert {"c4-0", "c4-1"} & {r["id"] for r in kept}
    diag = json.loads((tmp_path / "stage-select" / "selection" / "diagnostics.json").read_text())["diagnostics"]
    assert diag["mean_log_weight_selected"] > diag["mean_log_weight_candidates"]


def test_bad_select_configs(spark, tmp_path, docs):
    from gristmill.pipeline.stage import get_stage
    from gristmill.selectors.base import SelectorError
    cls = get_stage("select")

    def pre(**p):
        cls(cls.Config.model_validate(p)).preflight()
    with pytest.raises(StageError, match="does not exist"):
        pre(budget=3, model_path=str(tmp_path / "missing"))
    with pytest.raises(SelectorError, match="positive"):
        pre(budget=0)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(SelectorError, match="must not be empty"):
        pre(selector="zipfit", budget=3, target=str(empty))
    with pytest.raises(SelectorError, match="needs `target:`"):
        pre(selector="target_knn", budget=3)
    with pytest.raises(SelectorError, match="larger than the corpus"):
        run_stage(spark, "select", {"selector": "random", "budget": 50}, docs, tmp_path)
    dup = docs[:3] + [dict(docs[0])]
    with pytest.raises(SelectorError, match="not unique"):
        run_stage(spark, "select", {"selector": "random", "budget": 2}, dup, tmp_path)


def test_pipeline_and_cli(spark, tmp_path, docs):
    from gristmill.pipeline.cli import main
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    from gristmill.selectors.spark_embed import aligned_embeddings
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    raw = {"name": "t", "input": {"format": "jsonl", "path": str(src)}, "stages": [{"length": {"min_chars": 1}}],
           "select": {"selector": "random", "budget": 5, "seed": 1}}
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, runs_dir=tmp_path / "runs", quiet=True, raw_config=raw).run()
    assert pq.read_table(run / "02-select" / "kept").num_rows == 5
    assert main(["select", str(run), "--stage", "length", "--selector", "random", "--budget", "0.25", "-q"]) == 0
    assert pq.read_table(run / "selection" / "selection.parquet").num_rows == 3
    assert main(["embed", str(run), "--stage", "02-select", "--max-tokens", "16", "-q"]) == 0
    folder = run / "embeddings" / "all-MiniLM-L6-v2-t16-first"
    kept_ids = pq.read_table(run / "02-select" / "kept", columns=["id"]).column("id").to_pylist()
    assert aligned_embeddings(folder, kept_ids).shape == (5, 384)
    with pytest.raises(StageError, match="have no embedding"):
        aligned_embeddings(folder, kept_ids + ["not-a-doc"])
    assert main(["select", str(run), "--selector", "facility_location", "--budget", "9", "-q"]) == 2  # > corpus
    assert main(["embed", str(run), "--model", str(tmp_path / "missing"), "-q"]) == 2
