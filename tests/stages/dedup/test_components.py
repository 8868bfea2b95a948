"""Connected components in Spark (large-star / small-star) on hand-built graphs."""
from __future__ import annotations

from gristmill.stages.dedup.components import connected_components


def _components(spark, edges):
    df = spark.createDataFrame(edges, "u string, v string")
    comps, rounds = connected_components(df)
    return {r["node"]: r["component"] for r in comps.collect()}, rounds


def test_long_chain_and_separate_groups(spark):
    # a path in scrambled order (its ids do not follow the path) needs several rounds
    order = [f"n{(i * 7) % 24:02d}" for i in range(24)]
    edges = [(order[i], order[i + 1]) for i in range(23)]
    edges += [("x1", "x2"), ("x3", "x2"), ("y9", "y8")]
    comp, rounds = _components(spark, edges)
    assert {comp[n] for n in order} == {"n00"}
    assert comp["x1"] == comp["x2"] == comp["x3"] == "x1"
    assert comp["y8"] == comp["y9"] == "y8"
    assert len(comp) == 24 + 5
    assert rounds >= 2


def test_no_edges_and_self_loops(spark):
    comp, _ = _components(spark, [("a", "a")])
    assert comp == {}
