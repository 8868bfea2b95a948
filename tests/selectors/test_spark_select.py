"""Selection as Spark jobs: the same picks as the single-process path on a small corpus, bounded driver state,
and distributed top-k for the score selectors (real local Spark)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from gristmill.selectors.embed import shard_key, write_shard
from gristmill.selectors.facility_location import FacilityLocation
from gristmill.selectors import spark_select
from gristmill.selectors.run_select import SelectConfig, run_selection


def clustered(n: int, d: int = 32, centers: int = 12, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few directions: the shape of document embeddings that k-means partitions.
    (The method is what is under test here; embedding real text would only add minutes.)"""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(centers, d))
    X = C[rng.integers(0, centers, n)] + 0.6 * rng.normal(size=(n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def write_shards(folder, X, per: int = 100):
    keys, ids = [], [f"doc-{i:05d}" for i in range(len(X))]
    for lo in range(0, len(X), per):
        part = ids[lo:lo + per]
        k = shard_key(part)
        write_shard(folder, k, part, X[lo:lo + per], dtype="float32")
        keys.append(k)
    return keys, ids


def read_ranked(df):
    rows = sorted(df.collect(), key=lambda r: r["select_rank"])
    return [r["id"] for r in rows], np.array([r["select_score"] for r in rows]), np.array([r["select_weight"] for r in rows])


@pytest.mark.parametrize("params", [{}, {"partition_size": 500}, {"partition_size": 500, "allocation": "proportional"}])
def test_distributed_facility_location_picks_what_one_process_picks(spark, tmp_path, params):
    X = clustered(3000)
    keys, ids = write_shards(tmp_path / "emb", X)
    sel = FacilityLocation(seed=0, **params)  # exact kNN inside each partition, lazy greedy
    one = sel.select(X, 300)
    ranked, diag, assigned = spark_select.facility_location(spark, sel, tmp_path / "emb", keys, len(X), 300)
    got_ids, gains, weights = read_ranked(ranked)
    assigned.unpersist()
    assert diag["partitions"] == one.diagnostics["partitions"] > 1
    assert got_ids == [ids[i] for i in one.indices]
    np.testing.assert_allclose(gains, one.scores, rtol=1e-5)
    np.testing.assert_allclose(weights, one.weights)


def test_a_sampled_plan_keeps_the_budget_and_most_of_the_objective(spark, tmp_path):
    X = clustered(3000, seed=1)
    keys, ids = write_shards(tmp_path / "emb", X)
    sel = FacilityLocation(seed=0, partition_size=500)
    one = sel.select(X, 300)
    ranked, diag, assigned = spark_select.facility_location(spark, sel, tmp_path / "emb", keys, len(X), 300,
                                                            sample_rows=600)
    got_ids, gains, _ = read_ranked(ranked)
    assigned.unpersist()
    assert diag["sample_rows"] == 600 and len(got_ids) == 300 == len(set(got_ids))
    assert gains.sum() >= 0.95 * one.diagnostics["objective"]


def test_distributed_stage_path_writes_the_selection_and_diagnostics(spark, tmp_path):
    """run_selection with distributed: true for facility location reuses shards and writes from the workers."""
    from helpers import docs_df
    texts = [f"document {i} about {['rivers', 'stars', 'bread', 'trains'][i % 4]} and more words here" for i in range(40)]
    df = docs_df(spark, [{"id": f"d{i:02d}", "text": t} for i, t in enumerate(texts)])
    cfg = SelectConfig(selector="facility_location", budget=10, distributed=True,
                       params={"partition_size": 10, "allocation": "proportional"})
    sel, info = run_selection(spark, df, cfg, tmp_path, tmp_path / "selection")
    table = pq.read_table(tmp_path / "selection" / "selection.parquet")
    assert table.num_rows == 10 and sorted(table.column("select_rank").to_pylist()) == list(range(1, 11))
    diag = json.loads((tmp_path / "selection" / "diagnostics.json").read_text())
    assert diag["selected"] == 10 and diag["diagnostics"]["distributed"] is True
    assert diag["diagnostics"]["objective"] > 0 and sel.diagnostics["partitions"] == 4


@pytest.mark.parametrize("selector", ["random", "zipfit", "dsir"])
def test_score_selectors_take_a_distributed_top_k(spark, tmp_path, selector):
    from helpers import docs_df
    words = ["river", "delta", "flood", "bank", "stone", "kernel", "thread", "mutex", "socket", "buffer"]
    rng = np.random.default_rng(0)
    rows = [{"id": f"d{i:03d}", "text": " ".join(rng.choice(words[:5] if i % 2 else words[5:], 30))} for i in range(200)]
    target = tmp_path / "target.txt"
    target.write_text("\n".join(" ".join(rng.choice(words[:5], 30)) for _ in range(20)))
    cfg = SelectConfig(selector=selector, budget=50, distributed=True, seed=3,
                       target=None if selector == "random" else str(target))
    run_selection(spark, docs_df(spark, rows), cfg, tmp_path, tmp_path / "sel")
    picked = pq.read_table(tmp_path / "sel" / "selection.parquet").column("id").to_pylist()
    assert len(picked) == 50 == len(set(picked))
    odd = sum(int(p[1:]) % 2 for p in picked)  # odd documents speak the target's words
    if selector == "random":
        assert 10 <= odd <= 40  # a uniform draw: binomial(50, 0.5) lies here with probability > 0.9999
        run_selection(spark, docs_df(spark, rows), cfg, tmp_path, tmp_path / "again")
        assert pq.read_table(tmp_path / "again" / "selection.parquet").column("id").to_pylist() == picked
    else:
        assert odd >= 45


def test_distributed_true_refuses_a_selector_without_a_spark_path():
    from gristmill.selectors.run_select import SelectorError
    cfg = SelectConfig(selector="semdedup", budget=0.5, distributed=True)
    with pytest.raises(SelectorError, match="no distributed path"):
        cfg.use_spark(10, cfg.make_selector())
