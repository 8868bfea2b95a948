"""`gristmill plan-filter` end to end on the quickstart corpus (300 documents), tiny proxy runs: every document in
a bucket, buckets ordered by score, proxies repeating smaller pools more, a held-out error, and the settings to copy."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gristmill.pipeline.cli import main as gristmill
from gristmill.trainer_hooks.experiment import ExperimentError
from gristmill.trainer_hooks.experiment.plan_filter import load_plan

MINI = {"name": "plan-mini", "input": {"format": "python_env", "limit": 300},
        "heldout": {"fraction": 0.1, "batches": 1}, "quality": {"rules": ["fineweb"]},
        "score": "fineweb_line_punct_ratio", "buckets": 2,
        # buckets of ~140 documents of ~3,700 tokens: pools of about 27k to 108k tokens, so that 100 steps x 16 x 32
        # tokens repeat the smallest one about twice
        "proxy": {"pool_fraction": 0.2, "fractions": [1.0, 0.5, 0.25], "holdout": 0.5},
        "train": {"seeds": 1, "steps": 100, "batch_size": 16, "block_size": 32, "vocab_size": 300, "warmup": 2,
                  "eval_every": 10, "model": {"n_layer": 1, "n_head": 2, "n_embd": 16}},
        "budgets": [2000, 200000]}


@pytest.fixture(scope="module")
def planned(tmp_path_factory, spark):
    tmp = tmp_path_factory.mktemp("plan")
    cfg = tmp / "mini.yaml"
    cfg.write_text(yaml.safe_dump({**MINI, "runs_dir": str(tmp / "runs")}))
    assert gristmill(["plan-filter", str(cfg), "--quiet"]) == 0
    exp = tmp / "runs" / "plan-mini" / "plan_filter"
    return exp, json.loads((exp / "plan.json").read_text())


def test_every_training_side_document_is_in_one_bucket_ordered_by_score(planned):
    _, r = planned
    assert sum(b["docs"] for b in r["buckets"]) == r["split"]["train_side_docs"]
    q0, q1 = r["buckets"]
    assert q0["score_worst"] >= q1["score_best"] and q0["score_best"] >= q0["score_worst"]


def test_proxies_repeat_smaller_pools_at_the_same_tokens(planned):
    _, r = planned
    for q in (0, 1):
        pools = [p["pool_tokens"] for p in sorted(r["proxy"]["runs"], key=lambda p: -p["fraction"]) if p["bucket"] == q]
        assert pools == sorted(pools, reverse=True) and len(pools) == 3
        assert r["proxy"]["tokens"] > pools[-1]  # the smallest pool is seen more than once


def test_plan_reports_the_held_out_error_and_the_best_threshold_per_budget(planned):
    exp, r = planned
    h = r["heldout_error"]
    assert h["left_out_pool"] == 0.5 and h["points"] > 0 and 0 <= h["mae"] <= h["max_abs"] < 10
    assert [p["budget_tokens"] for p in r["plans"]] == [2000, 200000]
    for p in r["plans"]:
        assert p["best"] == min(p["rows"], key=lambda row: row["predicted_loss"])
        assert p["rows"][-1]["top_fraction"] == pytest.approx(1.0)
    md = (exp / "plan.md").read_text()
    assert "Held-out error" in md and "max_epochs" in md and "fineweb_line_punct_ratio" in md
    assert "min_line_punct_ratio:" in md  # the quality setting that makes the plan's cut


def test_quality_score_without_a_classifier_is_refused_with_the_fix(tmp_path: Path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"format": "python_env"}, "budgets": [1000]}))
    with pytest.raises(ExperimentError, match="quality.classifier"):
        load_plan(cfg)


def test_a_budget_is_required(tmp_path: Path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"format": "python_env"}, "score": "fineweb_list_ratio"}))
    with pytest.raises(ExperimentError, match="--budget"):
        load_plan(cfg)
