"""Selection as Spark jobs: the same picks as the single-process path on a small corpus, bounded driver state,
and distributed top-k for the score selectors (real local Spark)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from gristmill.selectors import spark_select
from gristmill.selectors.embed import shard_key, write_shard
from gristmill.selectors.facility_location import FacilityLocation
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
    scores = np.array([r["select_score"] for r in rows])
    return [r["id"] for r in rows], scores, np.array([r["select_weight"] for r in rows])


@pytest.mark.parametrize("params", [{"graphs": "partition"}, {"graphs": "partition", "partition_size": 500},
                                    {"graphs": "partition", "partition_size": 500, "allocation": "proportional"}])
def test_distributed_partitioned_facility_location_picks_what_one_process_picks(spark, tmp_path, params):
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


@pytest.mark.parametrize("params,group_rows", [({}, 20_000), ({"k": 7, "probe": 3, "list_size": 90}, 20_000),
                                               ({}, 400)])
def test_distributed_probed_facility_location_picks_what_one_process_picks(spark, tmp_path, monkeypatch, params,
                                                                         group_rows):
    """The default (graphs: probed): the same lists, the same graph, the same greedy, so the same picks in the
    same order with the same gains and weights (shards of 100 rows: Spark batches rows unlike one process). Each
    row's best k of its probes is cut in groups of rows before the one greedy task: one group, or seven."""
    monkeypatch.setattr(spark_select, "BEST_GROUP_ROWS", group_rows)
    X = clustered(3000, seed=2)
    keys, ids = write_shards(tmp_path / "emb", X)
    sel = FacilityLocation(seed=0, **params)
    one = sel.select(X, 300)
    ranked, diag, cached = spark_select.facility_location(spark, sel, tmp_path / "emb", keys, len(X), 300)
    got_ids, gains, weights = read_ranked(ranked)
    cached.unpersist()
    assert diag["graph"] == one.diagnostics["graph"] == "probed" and diag["lists"] == one.diagnostics["lists"] > 1
    assert diag["best_of_probes_groups"] == max(1, 3000 // group_rows)
    assert got_ids == [ids[i] for i in one.indices]
    np.testing.assert_allclose(gains, one.scores, rtol=1e-6)
    np.testing.assert_allclose(weights, one.weights)


def test_a_sampled_plan_keeps_the_budget_and_most_of_the_objective(spark, tmp_path):
    X = clustered(3000, seed=1)
    keys, ids = write_shards(tmp_path / "emb", X)
    sel = FacilityLocation(seed=0, graphs="partition", partition_size=500)
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
    topics = ['rivers', 'stars', 'bread', 'trains']
    texts = [f"document {i} about {topics[i % 4]} and more words here" for i in range(40)]
    df = docs_df(spark, [{"id": f"d{i:02d}", "text": t} for i, t in enumerate(texts)])
    cfg = SelectConfig(selector="facility_location", budget=10, distributed=True,
                       params={"graphs": "partition", "partition_size": 10, "allocation": "proportional"})
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
    rows = [{"id": f"d{i:03d}", "text": " ".join(rng.choice(words[:5] if i % 2 else words[5:], 120))}
            for i in range(200)]  # DSIR's candidates have at least 100 words
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


def with_near_copies(X: np.ndarray, every: int = 5, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """X plus a near copy of every `every`-th row (cosine about 0.99 to its original) and one exact copy of
    every 50th: what SemDeDup exists to remove."""
    rng = np.random.default_rng(seed)
    near = X[::every] + noise * rng.normal(size=X[::every].shape)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    return np.concatenate([X, near.astype(np.float32), X[::50]])


@pytest.mark.parametrize("name,params,budget", [("semdedup", {}, 0.6), ("semdedup", {"order": "easy"}, 1.0),
                                                ("d4", {}, 0.5), ("d4", {"n_clusters": 6}, 0.9),
                                                ("ssl_prototypes", {}, 0.3), ("ssl_prototypes", {"keep": "easy"}, 0.3)])
def test_distributed_semdedup_and_d4_pick_what_one_process_picks(spark, tmp_path, name, params, budget):
    """The whole small corpus is the k-means sample (sample_rows > n), so both paths train the same
    centroids; a sampled plan trains on a subset and its clusters (hence picks) may differ."""
    from gristmill.selectors import spark_semdedup
    from gristmill.selectors.base import get_selector
    X = with_near_copies(clustered(2000, seed=2))
    keys, ids = write_shards(tmp_path / "emb", X, per=128)
    sel = get_selector(name, seed=0, **params)
    one = sel.select(X, budget)
    ranked, diag, cached = getattr(spark_semdedup, name)(spark, sel, tmp_path / "emb", keys, len(X), budget)
    got_ids, scores, weights = read_ranked(ranked)
    if cached is not None:
        cached.unpersist()
    if name != "ssl_prototypes":
        key = "kept_after_dedup" if name == "semdedup" else "kept_after_semdedup"
        assert diag[key] == one.diagnostics[key] < len(X) - 400
    assert got_ids == [ids[i] for i in one.indices]
    # scores agree to float32's last bit or two (a row's normalization depends on where it sits in memory)
    np.testing.assert_allclose(scores, one.scores, rtol=1e-5)
    assert (weights == 1).all()


@pytest.mark.parametrize("aggregate,spread", [("round_robin", 1.0), ("round_robin", 0.02), ("max", 1.0),
                                              ("mean", 1.0)])
def test_distributed_target_knn_picks_what_one_process_picks(spark, tmp_path, aggregate, spread):
    """spread 0.02: the target examples nearly coincide, so their lists overlap, run out and are searched
    deeper (the single-process path's loop, in Spark)."""
    from gristmill.selectors.target_knn import TargetKNN
    X = with_near_copies(clustered(2500, seed=3))
    keys, ids = write_shards(tmp_path / "emb", X)
    rng = np.random.default_rng(4)
    T = X[rng.integers(0, len(X), 1)] + spread * rng.normal(size=(7, X.shape[1]))
    T = (T / np.linalg.norm(T, axis=1, keepdims=True)).astype(np.float32)
    tasks = ["a", "b", "a", "c", "b", "a", "c"]  # RDS+'s round robin is over target tasks
    sel = TargetKNN(aggregate=aggregate)
    one = sel.select(X, 300, target=T, target_tasks=tasks)
    ranked, diag, cached = spark_select.target_knn(spark, sel, T, tmp_path / "emb", keys, len(X), 300, tasks)
    got_ids, scores, _ = read_ranked(ranked)
    cached.unpersist()
    assert got_ids == [ids[i] for i in one.indices]
    np.testing.assert_allclose(scores, one.scores, rtol=1e-5)
    if aggregate == "round_robin":
        assert (diag["list_depth"] > -(-300 // 3) * 2 + 8) == (spread < 1)


@pytest.mark.parametrize("selector", ["semdedup", "target_knn"])
def test_stage_path_distributed_equals_one_process(spark, tmp_path, selector):
    """run_selection end to end on real text and real MiniLM embeddings: distributed and one-process write
    the same selection."""
    from helpers import docs_df
    topics = ["rivers and floods", "stars and telescopes", "bread and ovens", "trains and stations"]
    rows = [{"id": f"d{i:02d}", "text": f"a note on {topics[i % 4]}, number {i // 8}"} for i in range(48)]
    target = tmp_path / "target.txt"
    target.write_text("the flood rose over the river banks\nthe telescope found a new star\n")
    written = []
    for distributed in (False, True):
        cfg = SelectConfig(selector=selector, budget=0.5, distributed=distributed, params={"n_clusters": 4}
                           if selector == "semdedup" else {}, target=None if selector == "semdedup" else str(target))
        run_selection(spark, docs_df(spark, rows), cfg, tmp_path, tmp_path / f"sel-{distributed}")
        written.append(pq.read_table(tmp_path / f"sel-{distributed}" / "selection.parquet").sort_by("select_rank"))
        diag = json.loads((tmp_path / f"sel-{distributed}" / "diagnostics.json").read_text())
        assert diag["diagnostics"].get("distributed", False) is distributed
    assert written[0].column("id").to_pylist() == written[1].column("id").to_pylist()
    # semdedup keeps fewer than the budget: these notes differ by a topic and a number only
    assert (len(written[0]) == 24) if selector == "target_knn" else (0 < len(written[0]) < 24)
    np.testing.assert_allclose(written[0].column("select_score").to_numpy(),
                               written[1].column("select_score").to_numpy(), rtol=1e-5)


def test_distributed_true_refuses_a_selector_without_a_spark_path():
    from gristmill.selectors.run_select import SelectorError
    cfg = SelectConfig(selector="facility_location", budget=0.5, distributed=True,
                       params={"graphs": "partition", "merge": True})
    with pytest.raises(SelectorError, match="no distributed path"):
        cfg.use_spark(10, cfg.make_selector())


def test_select_params_are_checked_when_the_config_loads():
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match=r"params.neighbours: no such parameter"):
        SelectConfig(selector="facility_location", budget=0.5, params={"neighbours": 5})
    with pytest.raises(ValidationError, match=r"params.k"):
        SelectConfig(selector="facility_location", budget=0.5, params={"k": 0})
    assert SelectConfig(selector="dsir", budget=0.5, params={"buckets": 1000}).make_selector().buckets == 1000


def test_a_plugin_selector_brings_its_own_spark_path(spark, tmp_path):
    """run_selection dispatches through the selector class: a new selector with a Spark path runs it."""
    from helpers import docs_df
    from pydantic import Field

    from gristmill.selectors.base import SELECTORS, Selection, Selector, SelectorParams

    class LongestParams(SelectorParams):
        min_chars: int = Field(0, ge=0)

    class Longest(Selector):
        name = "test_longest_plugin"
        input = "texts"
        Params = LongestParams

        def select(self, X, budget, target=None):
            raise AssertionError("the one-process path must not run under distributed: true")

        def spark_ready(self):
            return True

        def select_spark(self, job):
            from pyspark.sql import functions as F
            scored = job.df.select("id", F.length("text").cast("double").alias("score"))
            return spark_select.top_k(scored, int(job.budget)), {"n": job.n, "plugin": True}, None

    try:
        rows = [{"id": f"p{i}", "text": "x" * (i + 1)} for i in range(10)]
        cfg = SelectConfig(selector="test_longest_plugin", budget=3, distributed=True, params={"min_chars": 1})
        sel, _ = run_selection(spark, docs_df(spark, rows), cfg, tmp_path, tmp_path / "sel")
        picked = pq.read_table(tmp_path / "sel" / "selection.parquet").sort_by("select_rank").column("id").to_pylist()
        assert picked == ["p9", "p8", "p7"] and sel.diagnostics["plugin"] is True
        assert isinstance(sel, Selection)
    finally:
        SELECTORS._classes.pop("test_longest_plugin", None)
