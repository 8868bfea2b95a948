"""Connected components in Spark on hand-built graphs, both ways: one task, and large-star / small-star rounds."""
from __future__ import annotations

import pytest

from gristmill.stages.dedup.components import connected_components

ONE_TASK, ROUNDS = 10**9, 0  # one_task_max_edges: every graph here fits one task / none does
both = pytest.mark.parametrize("one_task", [ONE_TASK, ROUNDS], ids=["one_task", "rounds"])


def _components(spark, edges, one_task=ROUNDS):
    df = spark.createDataFrame(edges, "u string, v string")
    comps, rounds = connected_components(df, one_task_max_edges=one_task)
    got = [(r["node"], r["component"]) for r in comps.collect()]
    assert len(got) == len({n for n, _ in got})  # one row per node
    return dict(got), rounds


@both
def test_long_chain_and_separate_groups(spark, one_task):
    # a path in scrambled order (its ids do not follow the path) needs several rounds
    order = [f"n{(i * 7) % 24:02d}" for i in range(24)]
    edges = [(order[i], order[i + 1]) for i in range(23)]
    edges += [("x1", "x2"), ("x3", "x2"), ("y9", "y8")]
    comp, rounds = _components(spark, edges, one_task)
    assert {comp[n] for n in order} == {"n00"}
    assert comp["x1"] == comp["x2"] == comp["x3"] == "x1"
    assert comp["y8"] == comp["y9"] == "y8"
    assert len(comp) == 24 + 5
    assert rounds == 0 if one_task == ONE_TASK else rounds >= 2


@both
def test_no_edges_and_self_loops(spark, one_task):
    comp, _ = _components(spark, [("a", "a")], one_task)
    assert comp == {}


def _reference(edges):
    """Union-find by networkx: each node's component labelled by its smallest id."""
    import networkx as nx
    g = nx.Graph()
    g.add_edges_from((u, v) for u, v in edges if u != v)
    return {n: min(c) for c in nx.connected_components(g) for n in c}


@both
def test_matches_networkx_on_random_graphs_and_a_big_star(spark, one_task):
    import random
    rng = random.Random(0)
    edges = []
    for g in range(4):  # random sparse graphs of varying density, ids not in path order
        nodes = [f"g{g}-{rng.randrange(10**6):06d}" for _ in range(150)]
        edges += [(rng.choice(nodes), rng.choice(nodes)) for _ in range(40 + 50 * g)]
    # a 10,000-leaf star whose centre is not the smallest id, plus a path hanging off one leaf
    edges += [("star-5000", f"star-{i:05d}") for i in range(10_001) if i != 5000]
    edges += [("star-00007", "tail-a"), ("tail-a", "tail-b"), ("tail-b", "a-first")]
    comp, rounds = _components(spark, edges, one_task)
    assert comp == _reference(edges)
    assert comp["star-09999"] == "a-first"


def test_one_task_labels_by_byte_order_like_spark(spark):
    # Spark orders strings by their UTF-8 bytes: upper case before lower, "Z" < "a" < "é"; the smallest id
    # must be the same one the rounds pick
    edges = [("é1", "a1"), ("a1", "Z1"), ("b", "ä"), ("ä", "B~"), ("x", "x2"), ("x2", "X")]
    assert _components(spark, edges, ONE_TASK) == (_components(spark, edges, ROUNDS)[0], 0)
    assert _components(spark, edges, ONE_TASK)[0]["é1"] == "Z1"
