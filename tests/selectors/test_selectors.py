"""Selectors on small real embeddings (all-MiniLM-L6-v2 over real sentences) and real texts."""
from __future__ import annotations

import doctest
import gzip
import json

import numpy as np
import pytest

from gristmill.selectors import base as base_mod
from gristmill.selectors import facility_location as fl_mod
from gristmill.selectors.base import SelectorError, get_selector
from gristmill.selectors.facility_location import FacilityLocation, knn_graph, lazy_greedy, replay


def _read(path):
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def sentences():
    """240 distinct real English sentences: prose from the Python reference docs every install has."""
    import re
    from pydoc_data.topics import topics
    out = []
    for key in sorted(topics):
        for para in re.split(r"\n\s*\n", topics[key]):
            if para.startswith(("   ", "\t")) or ">>>" in para:  # code blocks and examples
                continue
            for s in re.split(r"(?<=[.!?])\s+", " ".join(para.split())):
                if 40 <= len(s) <= 300 and s[0].isupper() and s.endswith("."):
                    out.append(s)
    return list(dict.fromkeys(out))[::3][:240]


@pytest.fixture(scope="module")
def X(sentences):
    from gristmill.selectors.embed import Embedder, EmbedSettings
    return Embedder(EmbedSettings(max_tokens=32, batch_size=64)).embed(sentences)


def naive_greedy(W, k):
    """Textbook greedy over the dense graph: the ground truth the fast paths must match."""
    D = W.toarray()
    cur = np.zeros(D.shape[0])
    picks = []
    for _ in range(k):
        gains = np.maximum(D - cur[:, None], 0).sum(axis=0)
        gains[picks] = -1
        j = int(np.argmax(gains))
        picks.append(j)
        cur = np.maximum(cur, D[:, j])
    return picks, cur.sum()


def test_doctests():
    for mod in (base_mod, fl_mod):
        assert doctest.testmod(mod).failed == 0


def test_lazy_greedy_matches_naive_greedy(X):
    W = knn_graph(X[:80], k=8)
    picks, gains = lazy_greedy(W, 15)
    naive, obj = naive_greedy(W, 15)
    assert replay(W, picks).sum() == pytest.approx(obj, rel=1e-5)
    assert np.all(np.diff(gains) <= 1e-6)  # submodular: greedy gains never grow


def test_facility_location_close_to_exact(X):
    W = knn_graph(X, k=10)
    exact, _ = lazy_greedy(W, 48)
    ref = replay(W, exact).sum()
    for kw in ({"partitions": 1}, {"partitions": 4}, {"partitions": 4, "optimizer": "lazy"},
               {"partitions": 4, "merge": True}):
        sel = FacilityLocation(graphs="global", k=10, **kw).select(X, 48, graph=W)
        assert len(sel) == 48 and len(set(sel.indices.tolist())) == 48
        assert sel.diagnostics["objective"] >= 0.95 * ref, kw
        assert sel.diagnostics["objective"] <= ref * 1.02
    # importance sampling is allowed to trade objective for diversity, but not much
    imp = FacilityLocation(graphs="partition", k=10, sampling="importance", partitions=1).select(X, 48, graph=W)
    assert len(imp) == 48 and imp.diagnostics["objective"] >= 0.85 * ref


def test_facility_location_output_shape(X):
    sel = FacilityLocation(k=10, optimizer="lazy").select(X, 0.2)
    assert len(sel) == 48
    assert sel.weights.sum() == sel.diagnostics["points_covered"] <= len(X)
    assert np.all(sel.weights >= 1)  # each pick covers at least itself
    assert np.all(np.diff(sel.scores) <= 1e-6)  # ranked by exact marginal gain on the graph
    curve = sel.diagnostics["coverage_curve"]
    assert curve[-1][0] == 48 and curve[-1][1] == pytest.approx(sel.diagnostics["objective_per_doc"])
    # beats random on its own objective by a clear margin
    rnd = get_selector("random", seed=3).select(X, 0.2)
    W = knn_graph(X, k=10)
    assert sel.diagnostics["objective"] > 1.1 * replay(W, rnd.indices).sum()


def test_determinism_with_seed(X):
    a = FacilityLocation(graphs="partition", partitions=3, seed=7).select(X, 30)
    b = FacilityLocation(graphs="partition", partitions=3, seed=7).select(X, 30)
    assert a.indices.tolist() == b.indices.tolist()
    r1, r2, r3 = (get_selector("random", seed=s).select(X, 30).indices.tolist() for s in (1, 1, 2))
    assert r1 == r2 != r3


def test_semdedup_finds_planted_duplicates(X):
    rng = np.random.default_rng(0)
    dups = X[:20] + 0.002 * rng.standard_normal(X[:20].shape).astype(np.float32)
    Y = np.concatenate([X, dups])
    sel = get_selector("semdedup", eps=0.02).select(Y, 1.0)
    kept = set(sel.indices.tolist())
    caught = sum(not (i in kept and len(X) + i in kept) for i in range(20))
    assert caught == 20
    assert sel.diagnostics["removed_fraction"] < 0.2  # distinct real sentences mostly survive
    loose = get_selector("semdedup", eps=0.5).select(Y, 1.0)
    assert loose.diagnostics["removed_fraction"] > sel.diagnostics["removed_fraction"]


def test_target_knn_prefers_target_topic(X, sentences):
    T = X[:5]
    for agg in ("mean", "max"):
        sel = get_selector("target_knn", aggregate=agg).select(X, 10, target=T)
        assert sel.diagnostics["mean_score_selected"] > sel.diagnostics["mean_score_all"]
    nearest = get_selector("target_knn", aggregate="max").select(X, 5, target=T)
    assert set(nearest.indices.tolist()) == set(range(5))  # each target sentence is its own best match


@pytest.fixture(scope="module")
def domain_docs():
    from helpers import TEST_DATA
    rows = _read(TEST_DATA / "domains" / "domain_mix_permissive.jsonl.gz")
    by = {}
    for r in rows:
        by.setdefault(r["domain"], []).append(r["text"][:1500])
    return by


@pytest.mark.parametrize("name", ["dsir", "zipfit"])
def test_text_selectors_pick_the_target_domain(name, domain_docs):
    domains = sorted(domain_docs, key=lambda d: -len(domain_docs[d]))[:4]
    want = domains[0]
    pool, labels = [], []
    for d in domains:
        pool += domain_docs[d][5:45]
        labels += [d] * len(domain_docs[d][5:45])
    target = domain_docs[want][:5]
    sel = get_selector(name, seed=0).select(pool, 20, target=target)
    hit = np.mean([labels[i] == want for i in sel.indices])
    assert hit > 0.5, (name, want, hit)  # base rate is 0.25


def test_check_embeddings_normalizes_huge_rows_and_names_infinite_ones():
    X = np.array([[3.0, 4.0], [3e30, 4e30], [1.0, 0.0]], np.float32)  # row 1's squares overflow float32
    out = base_mod.check_embeddings(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:2], [[0.6, 0.8], [0.6, 0.8]], rtol=1e-6)
    X[2, 1] = np.inf
    with pytest.raises(SelectorError, match=r"1 row\(s\), first: \['c'\]"):
        base_mod.check_embeddings(X, ids=["a", "b", "c"])


def test_bad_inputs(X):
    fl = FacilityLocation()
    with pytest.raises(SelectorError, match="larger than the corpus"):
        fl.select(X, len(X) + 1)
    with pytest.raises(SelectorError, match="positive"):
        fl.select(X, 0)
    with pytest.raises(SelectorError, match=r"\(0, 1\]"):
        fl.select(X, 1.5)
    bad = X.copy()
    bad[7, 3] = np.nan
    with pytest.raises(SelectorError, match="NaN"):
        fl.select(bad, 10)
    with pytest.raises(SelectorError, match="non-empty"):
        get_selector("target_knn").select(X, 10, target=np.zeros((0, X.shape[1])))
    with pytest.raises(SelectorError, match="non-empty"):
        get_selector("dsir").select(["a b c"] * 5, 2, target=[])
    with pytest.raises(SelectorError, match="no parameter"):
        get_selector("facility_location", neighbours=5)
    with pytest.raises(SelectorError, match="unknown selector"):
        get_selector("kcenter")
    with pytest.raises(SelectorError, match="dimensions"):
        get_selector("target_knn").select(X, 10, target=np.ones((2, 7)))


def test_per_partition_graphs_close_to_exact_without_a_global_graph(X, monkeypatch):
    W = knn_graph(X, k=10)  # the global graph: only to evaluate, the selector must not build one
    exact, _ = lazy_greedy(W, 48)
    ref = replay(W, exact).sum()
    sizes = []
    real_knn = fl_mod.knn

    def spy(Y, k, *a, **kw):
        sizes.append(len(Y))
        return real_knn(Y, k, *a, **kw)

    monkeypatch.setattr(fl_mod, "knn", spy)
    monkeypatch.setattr(fl_mod, "knn_graph", lambda *a, **kw: pytest.fail("built a global kNN graph"))
    for kw in ({"partitions": 4}, {"partition_size": 50}, {"partitions": 4, "merge": True},
               {"partitions": 4, "optimizer": "stochastic", "eps": 0.001}):
        sizes.clear()
        sel = FacilityLocation(k=10, graphs="partition", **kw).select(X, 48)
        d = sel.diagnostics
        assert d["graph"] == "partition" and not d["global_graph_built"] and d["partitions"] >= 4, kw
        assert sizes and max(sizes) < len(X), kw  # every kNN search ran inside one partition
        assert len(sel) == 48 and len(set(sel.indices.tolist())) == 48
        assert replay(W, sel.indices).sum() >= 0.95 * ref, kw  # judged on the global graph
        # scores are the exact marginal gains on the graph the selector used, in pick order
        assert np.allclose(sel.scores.sum(), d["objective"])
        assert sel.weights.sum() == d["points_covered"] <= len(X)
    assert d["partition_sizes"][1] < len(X)


def test_per_partition_lazy_gains_are_ranked(X):
    sel = FacilityLocation(graphs="partition", k=5, partitions=5).select(X, 40)
    assert np.all(np.diff(sel.scores) <= 1e-6)  # merged by gain, each partition's order kept
    assert sel.diagnostics["objective"] == pytest.approx(sel.scores.sum())


def test_importance_sampling_draws_each_partitions_share_in_proportion_to_gain(X):
    # INGENIOUS: a partition's share is drawn from its greedy picks with probability by marginal gain
    from gristmill.selectors.facility_location import sample_by_gain
    rng = np.random.default_rng(0)
    gains = np.array([8.0, 4.0, 2.0, 1.0, 1.0])
    first = np.bincount([sample_by_gain([np.arange(5)], [gains], [1], rng)[0] for _ in range(20_000)],
                        minlength=5) / 20_000
    np.testing.assert_allclose(first, gains / gains.sum(), atol=0.015)
    two = sample_by_gain([np.array([10, 11, 12]), np.array([20, 21])], [np.array([3.0, 2, 1]), np.array([5.0, 1])],
                         [2, 1], rng)
    assert sum(p // 10 == 1 for p in two) == 2 and sum(p // 10 == 2 for p in two) == 1
    sel = FacilityLocation(graphs="partition", k=10, partitions=4, sampling="importance", pool=2.0).select(X, 40)
    top = FacilityLocation(graphs="partition", k=10, partitions=4, allocation="proportional").select(X, 40)
    assert len(sel) == 40 and len(set(sel.indices.tolist())) == 40
    assert set(sel.indices.tolist()) != set(top.indices.tolist())  # a draw, not the greedy top
    assert sel.diagnostics["objective"] <= top.diagnostics["objective"] * 1.001


def test_greedi_second_round_on_a_global_graph(X):
    # GreeDi: the union of oversampled partition picks, a second greedy round with gains on one global graph
    W = knn_graph(X, k=10)
    exact, _ = lazy_greedy(W, 48)
    ref = replay(W, exact).sum()
    sel = FacilityLocation(graphs="partition", k=10, partitions=4, merge=True, merge_graph="global",
                           index="flat").select(X, 48)
    d = sel.diagnostics
    assert d["global_graph_built"] and d["objective_graph"] == "the global kNN graph"
    assert d["objective"] == pytest.approx(replay(W, sel.indices).sum(), rel=1e-5)  # the same flat graph
    assert d["objective"] >= 0.97 * ref
