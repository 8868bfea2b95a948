"""Facility location as INGENIOUS uses it: maximize f(S) = sum_i max_{j in S} sim(i, j) on a sparse
kNN graph, with partitioned greedy for large corpora.

The graph is a CSC matrix W: column j lists the points i that have j among their k nearest neighbours
and how similar they are, so a candidate's marginal gain is sum_i max(0, W[i, j] - cover[i]).
"""
from __future__ import annotations

import heapq
import math
import time

import numpy as np

from .base import Selection, Selector, SelectorError, check_embeddings, curve, gumbel_topk, resolve_budget
from .knn import kmeans, knn


def knn_graph(X: np.ndarray, k: int = 10, index: str = "auto", seed: int = 0):
    """Sparse similarity graph (scipy CSC, n x n) with self-loops of 1 and negative similarities dropped."""
    from scipy import sparse
    n = X.shape[0]
    sims, idx = knn(X, k, index=index, seed=seed)
    rows = np.repeat(np.arange(n), idx.shape[1])
    cols, vals = idx.ravel(), sims.ravel()
    keep = (cols >= 0) & (cols != rows) & (vals > 0)
    rows = np.concatenate([rows[keep], np.arange(n)])
    cols = np.concatenate([cols[keep], np.arange(n)])
    vals = np.concatenate([vals[keep], np.ones(n, np.float32)]).astype(np.float32)
    return sparse.csc_matrix((vals, (rows, cols)), shape=(n, n))


class Cover:
    """Greedy state over a CSC graph: how well each point is covered so far."""

    def __init__(self, W):
        self.indptr, self.indices, self.data = W.indptr, W.indices, W.data
        self.cur = np.zeros(W.shape[0], np.float32)

    def gain(self, j: int) -> float:
        p, q = self.indptr[j], self.indptr[j + 1]
        return float(np.maximum(self.data[p:q] - self.cur[self.indices[p:q]], 0).sum())

    def gains(self, cands: np.ndarray) -> np.ndarray:
        starts, lens = self.indptr[cands], self.indptr[cands + 1] - self.indptr[cands]
        total = int(lens.sum())
        offsets = np.cumsum(lens) - lens
        pos = np.repeat(starts - offsets, lens) + np.arange(total)
        vals = np.maximum(self.data[pos] - self.cur[self.indices[pos]], 0)
        owner = np.repeat(np.arange(len(cands)), lens)
        return np.bincount(owner, weights=vals, minlength=len(cands))

    def add(self, j: int) -> None:
        p, q = self.indptr[j], self.indptr[j + 1]
        rows = self.indices[p:q]
        self.cur[rows] = np.maximum(self.cur[rows], self.data[p:q])


def lazy_greedy(W, k: int, candidates: np.ndarray | None = None):
    """Exact greedy with Minoux's lazy evaluations (submodularity: stale gains are upper bounds)."""
    cover = Cover(W)
    cands = np.arange(W.shape[1]) if candidates is None else np.asarray(candidates)
    first = cover.gains(cands)
    heap = [(-g, int(j)) for g, j in zip(first, cands)]
    heapq.heapify(heap)
    picks, gains = [], []
    while heap and len(picks) < k:
        _, j = heapq.heappop(heap)
        g = cover.gain(j)
        if not heap or g >= -heap[0][0] - 1e-7:
            cover.add(j)
            picks.append(j)
            gains.append(g)
        else:
            heapq.heappush(heap, (-g, j))
    return np.asarray(picks, np.int64), np.asarray(gains, np.float64)


def stochastic_greedy(W, k: int, rng: np.random.Generator, eps: float = 0.01,
                      candidates: np.ndarray | None = None):
    """Mirzasoleiman et al.: each step takes the best of (n/k) log(1/eps) random remaining candidates,
    (1 - 1/e - eps) in expectation at a fraction of the evaluations."""
    cover = Cover(W)
    pool = np.arange(W.shape[1]) if candidates is None else np.array(candidates)
    m = len(pool)
    s = max(1, min(m, math.ceil(m / max(k, 1) * math.log(1 / eps))))
    picks, gains = [], []
    for _ in range(min(k, m)):
        draw = np.unique(rng.integers(0, m, size=min(s, m))) if s < m else np.arange(m)
        g = cover.gains(pool[draw])
        best = int(np.argmax(g))
        j = int(pool[draw[best]])
        cover.add(j)
        picks.append(j)
        gains.append(float(g[best]))
        m -= 1
        pool[draw[best]], pool[m] = pool[m], pool[draw[best]]  # swap-remove keeps sampling O(s)
    return np.asarray(picks, np.int64), np.asarray(gains, np.float64)


def proportional(budget: int, sizes: np.ndarray) -> np.ndarray:
    """Split a budget across partitions by size (largest remainder), never above a partition's size.

    >>> proportional(5, np.array([10, 5, 5])).tolist()
    [3, 1, 1]
    """
    raw = budget * sizes / sizes.sum()
    out = np.minimum(np.floor(raw).astype(int), sizes)
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    i = 0
    while out.sum() < budget:
        p = order[i % len(order)]
        if out[p] < sizes[p]:
            out[p] += 1
        i += 1
    return out


def replay(W, picks: np.ndarray):
    """Exact marginal gains of picks taken in this order on the full graph."""
    cover = Cover(W)
    gains = np.empty(len(picks))
    for t, j in enumerate(picks):
        gains[t] = cover.gain(int(j))
        cover.add(int(j))
    return gains


def coverage_weights(W, picks: np.ndarray) -> tuple[np.ndarray, int]:
    """Each pick's weight: how many points it covers best (CRAIG-style). Also the count of covered points."""
    Wr = W[:, picks].tocsr()
    best = np.asarray(Wr.argmax(axis=1)).ravel()
    covered = np.asarray(Wr.max(axis=1).todense()).ravel() > 0
    w = np.bincount(best[covered], minlength=len(picks)).astype(np.float64)
    return w, int(covered.sum())


class FacilityLocation(Selector):
    name = "facility_location"

    def __init__(self, k: int = 10, index: str = "auto", partitions: int | str = "auto",
                 partition_size: int = 20_000, optimizer: str = "stochastic", eps: float = 0.01,
                 merge: bool = False, merge_factor: float = 2.0, sampling: str = "top", pool: float = 2.0,
                 seed: int = 0):
        super().__init__(seed)
        if optimizer not in ("lazy", "stochastic"):
            raise SelectorError(f"facility_location optimizer must be 'lazy' or 'stochastic', got {optimizer!r}")
        if sampling not in ("top", "importance"):
            raise SelectorError(f"facility_location sampling must be 'top' or 'importance', got {sampling!r}")
        if k < 1:
            raise SelectorError(f"facility_location k (neighbours) must be at least 1, got {k}")
        self.k, self.index, self.partitions, self.partition_size = k, index, partitions, partition_size
        self.optimizer, self.eps, self.merge, self.merge_factor = optimizer, eps, merge, merge_factor
        self.sampling, self.pool = sampling, pool

    def _greedy(self, W, k, rng, candidates=None):
        if self.optimizer == "lazy":
            return lazy_greedy(W, k, candidates)
        return stochastic_greedy(W, k, rng, self.eps, candidates)

    def n_partitions(self, n: int) -> int:
        if self.partitions == "auto":
            return max(1, math.ceil(n / self.partition_size))
        return max(1, min(int(self.partitions), n))

    def select(self, X, budget, target=None, graph=None) -> Selection:
        X = check_embeddings(X)
        n = X.shape[0]
        b = resolve_budget(budget, n)
        rng = np.random.default_rng(self.seed)
        t0 = time.perf_counter()
        W = graph if graph is not None else knn_graph(X, self.k, self.index, self.seed)
        t_graph = time.perf_counter() - t0
        want = min(n, math.ceil(self.pool * b)) if self.sampling == "importance" else b
        picks, parts = self._partitioned(X, W, want, rng)
        t_greedy = time.perf_counter() - t0 - t_graph
        # rank by the order a global greedy would credit them: local gains first, then exact replay
        gains = replay(W, picks)
        if self.sampling == "importance":
            chosen = np.sort(gumbel_topk(np.log(np.maximum(gains, 1e-12)), b, rng))
            picks = picks[chosen]
            gains = replay(W, picks)
        weights, covered = coverage_weights(W, picks)
        objective = np.cumsum(gains)
        diag = {"objective": float(objective[-1]), "objective_per_doc": float(objective[-1] / n),
                "coverage_curve": curve(objective / n), "points_covered": covered, "n": n, "budget": b,
                "partitions": parts, "optimizer": self.optimizer, "k": self.k, "sampling": self.sampling,
                "seconds_graph": round(t_graph, 3), "seconds_greedy": round(t_greedy, 3)}
        return Selection(picks, gains, weights, diag)

    def _partitioned(self, X, W, b, rng):
        n = X.shape[0]
        p = self.n_partitions(n)
        if p == 1:
            picks, _ = self._greedy(W, b, rng)
            return picks, 1
        _, assign, _ = kmeans(X, p, seed=self.seed)
        members = [np.flatnonzero(assign == c) for c in range(p)]
        members = [m for m in members if len(m)]
        sizes = np.array([len(m) for m in members])
        share = proportional(b, sizes)
        if self.merge:
            share = np.minimum(sizes, np.ceil(share * self.merge_factor).astype(int))
        chosen, local_gain = [], []
        for m, s in zip(members, share):
            if s == 0:
                continue
            sub = W[m][:, m].tocsc()  # in-partition edges only: partitions are independent work
            picks, g = self._greedy(sub, int(s), rng)
            chosen.append(m[picks])
            local_gain.append(g)
        chosen = np.concatenate(chosen)
        if self.merge:
            picks, _ = lazy_greedy(W, b, candidates=chosen)
            return picks, len(members)
        order = np.argsort(-np.concatenate(local_gain), kind="stable")
        return chosen[order], len(members)
