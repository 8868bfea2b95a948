"""Facility location's lazy greedy against a brute-force greedy on small random graphs (no shared data)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from gristmill.selectors.facility_location import knn_graph, lazy_greedy, replay


def brute_force_greedy(D: np.ndarray, k: int):
    """f(S) = sum_i max_{j in S} D[i, j], evaluated from scratch for every candidate at every step."""
    picks = []
    for _ in range(k):
        best, best_val = None, -1.0
        for j in range(D.shape[1]):
            if j in picks:
                continue
            val = D[:, picks + [j]].max(axis=1).sum()
            if val > best_val + 1e-9:
                best, best_val = j, val
        picks.append(best)
    return picks, best_val


@pytest.mark.parametrize("seed", range(6))
def test_lazy_greedy_equals_brute_force_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(20, 60)), int(rng.integers(3, 12))
    if seed % 2:  # a kNN graph of random points
        X = rng.standard_normal((n, 6)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        W = knn_graph(X, k=5, index="flat")
    else:  # an arbitrary sparse non-negative graph with distinct weights
        dense = rng.random((n, n)) * (rng.random((n, n)) < 0.2)
        np.fill_diagonal(dense, 1.0)
        W = sparse.csc_matrix(dense.astype(np.float32))
    picks, gains = lazy_greedy(W, k)
    ref, ref_val = brute_force_greedy(W.toarray(), k)
    assert replay(W, picks).sum() == pytest.approx(ref_val, rel=1e-5)
    assert picks.tolist() == ref  # distinct random weights: no ties, so the same order
    assert gains.sum() == pytest.approx(ref_val, rel=1e-5)
