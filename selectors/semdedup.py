"""SemDeDup (Abbas et al. 2023): k-means the embeddings, then inside each cluster drop every item whose
cosine to an already kept item exceeds 1 - eps. Within a cluster, items farthest from the centroid are
considered first (the paper's default: keep the less prototypical copy)."""
from __future__ import annotations

import numpy as np

from .base import Selection, Selector, SelectorError, check_embeddings, resolve_budget, topk
from .knn import kmeans


def auto_clusters(n: int, per_cluster: int) -> int:
    return max(1, min(n, n // max(per_cluster, 1)))


def semdedup_mask(X: np.ndarray, eps: float, n_clusters: int, seed: int = 0, order: str = "hard"):
    """Returns (keep mask, uniqueness = 1 - max cosine to an earlier kept item, cluster id, cosine to centroid)."""
    _, assign, to_centroid = kmeans(X, n_clusters, seed=seed)
    keep = np.zeros(len(X), bool)
    unique = np.ones(len(X), np.float32)
    limit = 1.0 - eps
    for c in np.unique(assign):
        members = np.flatnonzero(assign == c)
        key = to_centroid[members] if order == "hard" else -to_centroid[members]
        members = members[np.lexsort((members, key))]
        sims = X[members] @ X[members].T
        kept = []
        for pos in range(len(members)):
            best = sims[pos, kept].max() if kept else -1.0
            unique[members[pos]] = 1.0 - max(best, 0.0)
            if best <= limit:
                kept.append(pos)
        keep[members[kept]] = True
    return keep, unique, assign, to_centroid


class SemDeDup(Selector):
    name = "semdedup"

    def __init__(self, eps: float = 0.05, n_clusters: int | None = None, per_cluster: int = 200,
                 order: str = "hard", seed: int = 0):
        super().__init__(seed)
        if not 0 <= eps < 1:
            raise SelectorError(f"semdedup eps must be in [0, 1), got {eps}")
        if order not in ("hard", "easy"):
            raise SelectorError(f"semdedup order must be 'hard' or 'easy', got {order!r}")
        self.eps, self.n_clusters, self.per_cluster, self.order = eps, n_clusters, per_cluster, order

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
