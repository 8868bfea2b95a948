"""SSL prototypes against a reference written from the paper (Sorscher et al. 2022, Section 6): k-means in
embedding space, difficulty = cosine distance to the nearest centroid, keep the hardest (or the easiest), and the
paper's rule (hard when data is abundant, easy when scarce)."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from gristmill.selectors import prototypes as proto_mod
from gristmill.selectors.base import SelectorError, get_selector


def _unit(a):
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def groups():
    """Three well-separated groups of 40 (FAISS k-means with k=3 and seed 1 finds them; seed 0 merges two)."""
    rng = np.random.default_rng(0)
    axes = np.eye(16)[:3] * 4
    return _unit(np.concatenate([a + rng.standard_normal((40, 16)) * 0.6 for a in axes]))


def reference_distance(X, labels):
    """Spherical k-means at convergence: each centroid is its members' normalized mean."""
    out = np.empty(len(X))
    for g in np.unique(labels):
        m = labels == g
        c = X[m].astype(np.float64).mean(axis=0)
        out[m] = 1 - X[m].astype(np.float64) @ (c / np.linalg.norm(c))
    return out


def test_doctests():
    assert doctest.testmod(proto_mod).failed == 0


@pytest.mark.parametrize("keep", ["hard", "easy"])
def test_keeps_the_hardest_or_easiest_by_distance_to_the_prototype(groups, keep):
    labels = np.repeat(np.arange(3), 40)
    ref = reference_distance(groups, labels)
    sel = get_selector("ssl_prototypes", keep=keep, n_clusters=3, seed=1).select(groups, 30)
    want = np.argsort(-ref if keep == "hard" else ref, kind="stable")[:30]
    assert set(sel.indices.tolist()) == set(want.tolist())
    np.testing.assert_allclose(sel.scores, ref[sel.indices], atol=1e-5)
    assert sel.diagnostics["keep"] == keep


def test_the_papers_rule_keeps_hard_when_abundant_and_easy_when_scarce(groups):
    scarce = get_selector("ssl_prototypes", keep="auto", abundant_rows=1000, n_clusters=3, seed=1).select(groups, 30)
    abundant = get_selector("ssl_prototypes", keep="auto", abundant_rows=100, n_clusters=3, seed=1).select(groups, 30)
    assert scarce.diagnostics["keep"] == "easy" and abundant.diagnostics["keep"] == "hard"
    assert scarce.diagnostics["mean_distance_selected"] < abundant.diagnostics["mean_distance_selected"]


def test_d4_ranks_what_semdedup_keeps_by_the_same_prototype_distance(groups):
    d4 = get_selector("d4", eps=0.0, n_clusters=3).select(groups, 30)  # eps 0: nothing is a duplicate
    ssl = get_selector("ssl_prototypes", n_clusters=3, seed=1).select(groups, 30)  # D4's second k-means seed
    assert d4.indices.tolist() == ssl.indices.tolist()


def test_bad_keep_names_the_key():
    with pytest.raises(SelectorError, match="'keep'"):
        get_selector("ssl_prototypes", keep="middle")
