"""Facility location's lazy greedy against a brute-force greedy on small random graphs (no shared data)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from gristmill.selectors.facility_location import batched_greedy, knn_edges, knn_graph, lazy_greedy, replay
from gristmill.selectors.knn import nearest_centroids, probed_knn, train_centroids, with_reverse


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


@pytest.mark.parametrize("greedy", [lazy_greedy, batched_greedy])
@pytest.mark.parametrize("seed", range(6))
def test_lazy_greedy_equals_brute_force_on_random_graphs(seed, greedy):
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
    picks, gains = greedy(W, k)
    ref, ref_val = brute_force_greedy(W.toarray(), k)
    assert replay(W, picks).sum() == pytest.approx(ref_val, rel=1e-5)
    assert picks.tolist() == ref  # distinct random weights: no ties, so the same order
    assert gains.sum() == pytest.approx(ref_val, rel=1e-5)


def test_batched_greedy_takes_the_textbook_picks_on_a_real_sized_graph():
    """Many picks per pass, shortlist rebuilds, candidates restricted: still the brute-force greedy's order."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 8)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = knn_graph(X, k=6, index="flat")
    cands = np.sort(rng.choice(400, 250, replace=False))
    picks, gains = batched_greedy(W, 60, candidates=cands, window=16, shortlist=20)
    D = W.toarray()
    ref, _ = brute_force_greedy(D[:, cands], 60)
    assert picks.tolist() == cands[ref].tolist()
    np.testing.assert_allclose(gains, replay(W, picks), rtol=1e-6)


def brute_force_knn(X: np.ndarray, k: int):
    S = X @ X.T
    idx = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(S, idx, axis=1), idx


def test_probed_knn_is_exact_when_every_list_is_probed_and_close_when_few_are():
    rng = np.random.default_rng(4)
    C = rng.standard_normal((10, 16))
    X = (C[rng.integers(0, 10, 1200)] + 0.5 * rng.standard_normal((1200, 16))).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ref_s, ref_i = brute_force_knn(X, 8)
    cents = train_centroids(X, 24, seed=0)
    s, i = probed_knn(X, 8, nearest_centroids(X, cents, 24))
    assert (i == ref_i).mean() > 0.999
    np.testing.assert_allclose(s, ref_s, atol=1e-5)
    s, i = probed_knn(X, 8, nearest_centroids(X, cents, 4), reverse=False)
    recall = np.mean([len(set(a) & set(b)) / 8 for a, b in zip(i, ref_i)])
    assert 0.8 < recall < 1.0  # approximate, yet most neighbours found
    assert (i[:, 0] == np.arange(len(X))).all()  # each row finds itself (its home list is probed)
    r, c, v = knn_edges(s, i)
    assert len(r) == len(X) * 8 and (v > 0).all()
    s2, i2 = probed_knn(X, 8, nearest_centroids(X, cents, 4))  # with the rows that found each row
    assert np.mean([len(set(a) & set(b)) / 8 for a, b in zip(i2, ref_i)]) > recall


def test_with_reverse_keeps_the_k_best_of_own_and_finders():
    """Reference: per row, the union of its own neighbours and of the rows that list it, best k by similarity."""
    rng = np.random.default_rng(5)
    n, k = 60, 4
    S = rng.random((n, n)).astype(np.float32)
    S = (S + S.T) / 2
    np.fill_diagonal(S, 1.0)
    idx = np.stack([np.concatenate([[i], rng.choice(np.delete(np.arange(n), i), k - 1, replace=False)])
                    for i in range(n)])
    sims = np.take_along_axis(S, idx, axis=1)
    got_s, got_i = with_reverse(sims, idx, k)
    for i in range(n):
        pool = set(idx[i]) | {j for j in range(n) if i in idx[j]}
        best = sorted(pool, key=lambda j: (-S[i, j], j))[:k]
        assert got_i[i].tolist() == best
        np.testing.assert_allclose(got_s[i], S[i, best])


def test_with_reverse_breaks_equal_and_negative_similarities_by_row():
    """Many equal similarities, negatives and -0.0: still the best k by (similarity, then lower row) of the union
    of own neighbours and finders (the merge sorts finders on one integer key made from the float bits)."""
    rng = np.random.default_rng(6)
    n, k = 80, 5
    S = np.round(rng.uniform(-1, 1, (n, n)) * 4) / 4  # multiples of 0.25: ties everywhere
    S = ((S + S.T) / 2).astype(np.float32)
    S[S == 0] = -0.0
    np.fill_diagonal(S, 1.0)
    idx = np.stack([np.concatenate([[i], rng.choice(np.delete(np.arange(n), i), k - 1, replace=False)])
                    for i in range(n)])
    got_s, got_i = with_reverse(np.take_along_axis(S, idx, axis=1), idx, k)
    for i in range(n):
        pool = set(idx[i]) | {j for j in range(n) if i in idx[j]}
        best = sorted(pool, key=lambda j: (-float(S[i, j]), j))[:k]
        assert got_i[i].tolist() == best
        np.testing.assert_array_equal(got_s[i], S[i, best])
