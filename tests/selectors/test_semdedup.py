"""SemDeDup as published (any earlier item, farthest from the centroid first, blockwise) and D4 on top."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from gristmill.selectors import semdedup as semdedup_mod
from gristmill.selectors.base import get_selector
from gristmill.selectors.semdedup import max_earlier_similarity, semdedup_mask


def _angles(*degrees):
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1).astype(np.float32)


def test_doctests():
    assert doctest.testmod(semdedup_mod).failed == 0


def test_an_item_close_to_a_dropped_item_is_dropped_too():
    # A 0°, B 8°, C 16°, D 60°, one cluster, eps 0.02 (drop above cos 0.98: cos 8° = 0.990, cos 16° = 0.961).
    # Farthest from the centroid first: D, A, B, C. B is within 8° of A; C is within 8° of B, which was
    # dropped: the paper drops C as well (its column of the upper triangle has 0.990), keeping A and D.
    X = _angles(0, 8, 16, 60)
    keep, unique, _, _ = semdedup_mask(X, eps=0.02, n_clusters=1)
    assert keep.tolist() == [True, False, False, True]
    assert unique[2] == pytest.approx(1 - np.cos(np.radians(8)), abs=1e-5)
    sel = get_selector("semdedup", eps=0.02, n_clusters=1).select(X, 1.0)
    assert sorted(sel.indices.tolist()) == [0, 3]


def test_easy_order_keeps_the_prototype_instead():
    X = _angles(0, 8, 16, 60)
    keep, _, _, _ = semdedup_mask(X, eps=0.02, n_clusters=1, order="easy")
    # nearest the centroid (~21°) first: C, B, A, D -> B and A are within 8° of an earlier item
    assert keep.tolist() == [False, False, True, True]


def test_blockwise_equals_the_dense_upper_triangle():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((301, 16)).astype(np.float32)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    S = Y @ Y.T
    dense = np.array([-1.0] + [S[:j, j].max() for j in range(1, len(Y))], dtype=np.float32)
    for block in (1, 7, 64, 301, 1000):
        assert np.allclose(max_earlier_similarity(Y, block=block), dense, atol=1e-6), block


def test_blockwise_never_builds_the_square_matrix():
    # 3,000 items in one cluster with blocks of 256: the peak is a few 256 x 256 blocks, not 3,000^2
    import tracemalloc
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((3000, 8)).astype(np.float32)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    tracemalloc.start()
    out = max_earlier_similarity(Y, block=256)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.shape == (3000,) and out[0] == -1.0
    assert peak < 6 * 256 * 256 * 8 < 3000 * 3000 * 4


def test_d4_prunes_the_most_prototypical_of_the_deduplicated():
    # one cluster (so the expected answer needs no k-means): points at known angles around a centre,
    # plus exact copies of four of them that SemDeDup must remove before the pruning ranks anything
    rng = np.random.default_rng(2)
    d = 12
    centre = np.eye(d)[0]
    other = rng.standard_normal((120, d))
    other[:, 0] = 0
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    theta = np.radians(rng.uniform(2, 50, size=120))
    base = (np.cos(theta)[:, None] * centre + np.sin(theta)[:, None] * other).astype(np.float32)
    X = np.concatenate([base, base[:4]])
    sel = get_selector("d4", eps=1e-4, n_clusters=1).select(X, 40)
    picked = sel.indices.tolist()
    assert len(picked) == 40 and len(set(picked)) == 40
    assert sel.diagnostics["kept_after_semdedup"] == 120
    # SSL prototypes: the 40 kept have the smallest cosine to the (spherical) centroid of what SemDeDup kept
    m = base.mean(axis=0)
    cos = base @ (m / np.linalg.norm(m))
    orig = sorted(i if i < 120 else i - 120 for i in picked)
    assert orig == sorted(np.argsort(cos)[:40].tolist())
    assert np.all(np.diff(sel.scores) <= 1e-9)  # least prototypical first
