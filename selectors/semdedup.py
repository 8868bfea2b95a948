"""SemDeDup (Abbas et al. 2023, "SemDeDup: Data-efficient learning at web-scale through semantic
deduplication", Algorithm 1), as the authors' code and NeMo Curator run it.

k-means the (unit) embeddings; inside each cluster order the items by cosine distance to the centroid,
farthest first (`order: hard`, the paper's default; `easy` puts the most prototypical first), and drop
item j when its cosine to ANY earlier item of the cluster exceeds 1 - eps (the column maximum of the upper
triangle of the cluster's similarity matrix), whether or not that earlier item was itself dropped. The
first item of every cluster is kept.

Clusters: centroids from FAISS k-means, then every row goes to its nearest centroid by `nearest_centroid`
(float64 products rounded to float32), the one function the single-process and the Spark path
(`spark_semdedup.py`) both call, so a row's cluster and order do not depend on which rows share its batch.

The similarity matrix is never built whole: `max_earlier_similarity` walks it in square blocks of
`block` x `block`, so memory stays O(block^2) however large a cluster grows (the work is still the
cluster's pairs, as in the paper).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from .base import Selection, Selector, SelectorParams, check_embeddings, resolve_budget, topk
from .knn import kmeans

BLOCK = 2048


def auto_clusters(n: int, per_cluster: int) -> int:
    return max(1, min(n, n // max(per_cluster, 1)))


def max_earlier_similarity(Y: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """For each row j of Y (unit rows, in order): max over i < j of Y[i] . Y[j]; -1 for the first row.

    >>> Y = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    >>> max_earlier_similarity(Y, block=1).tolist()
    [-1.0, 0.0, 1.0]
    """
    m = len(Y)
    out = np.full(m, -1.0, dtype=np.float32)
    for lo in range(0, m, block):
        hi = min(m, lo + block)
        cols = Y[lo:hi].T
        best = np.full(hi - lo, -np.inf, dtype=np.float32)
        for r in range(0, hi, block):  # only rows before the column block's end can be earlier
            r2 = min(hi, r + block)
            S = Y[r:r2] @ cols
            if r2 > lo:  # the diagonal block: keep i < j only
                i = np.arange(r, r2)[:, None]
                j = np.arange(lo, hi)[None, :]
                S = np.where(i < j, S, -np.inf)
            best = np.maximum(best, S.max(axis=0))
        out[lo:hi] = np.where(np.isfinite(best), best, -1.0)
    return out


def nearest_centroid(X: np.ndarray, C: np.ndarray, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(cluster, cosine to it) per row of X: products in float64 rounded to float32 (the same value however
    rows are batched), ties to the lower centroid.

    >>> nearest_centroid(np.array([[1, 0], [0.6, 0.8]], np.float32), np.array([[0, 1], [1, 0]], np.float32))[0].tolist()
    [1, 0]
    """
    C64 = np.asarray(C, np.float64).T
    assign = np.empty(len(X), np.int64)
    sim = np.empty(len(X), np.float32)
    for lo in range(0, len(X), block):
        S = (np.asarray(X[lo:lo + block], np.float64) @ C64).astype(np.float32)
        a = np.argmax(S, axis=1)
        assign[lo:lo + block], sim[lo:lo + block] = a, S[np.arange(len(a)), a]
    return assign, sim


def clusters(X: np.ndarray, n_clusters: int, seed: int = 0):
    """Spherical k-means centroids (FAISS) and each row's nearest centroid: (centroids, assign, cosine)."""
    centroids = kmeans(X, n_clusters, seed=seed)[0]
    return (centroids, *nearest_centroid(X, centroids))


def cluster_order(to_centroid: np.ndarray, rows: np.ndarray, order: str = "hard") -> np.ndarray:
    """Positions of a cluster's members in SemDeDup's order: hard = smallest cosine to the centroid (farthest)
    first, easy = closest first; ties by row number."""
    key = to_centroid if order == "hard" else -to_centroid
    return np.lexsort((rows, key))


def semdedup_mask(X: np.ndarray, eps: float, n_clusters: int, seed: int = 0, order: str = "hard",
                  block: int = BLOCK):
    """Returns (keep mask, uniqueness = 1 - max cosine to any earlier item of the cluster, cluster id,
    cosine to centroid)."""
    _, assign, to_centroid = clusters(X, n_clusters, seed=seed)
    keep = np.zeros(len(X), bool)
    unique = np.ones(len(X), np.float32)
    limit = 1.0 - eps
    for c in np.unique(assign):
        members = np.flatnonzero(assign == c)
        members = members[cluster_order(to_centroid[members], members, order)]
        best = max_earlier_similarity(X[members], block)
        unique[members] = 1.0 - np.maximum(best, 0.0)
        keep[members] = best <= limit
    return keep, unique, assign, to_centroid


class SemDeDupParams(SelectorParams):
    eps: float = Field(0.05, ge=0, lt=1, description="drop an item whose cosine to an earlier one exceeds 1 - eps")
    n_clusters: int | None = Field(None, ge=1, description="k-means clusters; default n / per_cluster")
    per_cluster: int = Field(200, ge=1, description="rows per cluster when n_clusters is not given")
    order: Literal["hard", "easy"] = Field("hard", description="hard: farthest from the centroid first (paper)")


class SemDeDup(Selector):
    name = "semdedup"
    Params = SemDeDupParams
    summary = "mean_score"

    def spark_ready(self) -> bool:
        return True

    def select(self, X, budget=1.0, target=None) -> Selection:
        """Keeps every non-duplicate; a smaller budget keeps the most unique of them."""
        X = check_embeddings(X)
        n = len(X)
        b = resolve_budget(budget, n)
        k = self.n_clusters or auto_clusters(n, self.per_cluster)
        keep, unique, _, _ = semdedup_mask(X, self.eps, k, self.seed, self.order)
        kept = np.flatnonzero(keep)
        picks = kept[topk(unique[kept], min(b, len(kept)))]
        diag = {"n": n, "budget": b, "eps": self.eps, "n_clusters": k, "kept_after_dedup": int(len(kept)),
                "removed_fraction": float(1 - len(kept) / n), "budget_unmet": bool(len(kept) < b)}
        return Selection(picks, unique[picks].astype(np.float64), np.ones(len(picks)), diag)
