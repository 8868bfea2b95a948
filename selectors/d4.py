"""D4 (Tirumala et al. 2023, "D4: Improving LLM Pretraining via Document De-Duplication and
Diversification"): SemDeDup as published first (`semdedup.py`: drop an item whose cosine to any earlier
item of its cluster exceeds 1 - eps), then k-means again on what is left and prune with SSL Prototypes
(Sorscher et al. 2022): the documents closest to their new centroid (most prototypical) go first, one
ranking over all clusters, until the budget is met. The Spark path (`spark_semdedup.py`) runs the same
steps as Spark jobs."""
from __future__ import annotations

import numpy as np

from .base import Selection, Selector, SelectorError, check_embeddings, resolve_budget, topk
from .semdedup import auto_clusters, clusters, semdedup_mask


class D4(Selector):
    name = "d4"

    def __init__(self, eps: float = 0.05, n_clusters: int | None = None, per_cluster: int = 200,
                 seed: int = 0):
        super().__init__(seed)
        if not 0 <= eps < 1:
            raise SelectorError(f"d4 eps must be in [0, 1), got {eps}")
        self.eps, self.n_clusters, self.per_cluster = eps, n_clusters, per_cluster

    def select(self, X, budget, target=None) -> Selection:
        X = check_embeddings(X)
        n = len(X)
        b = resolve_budget(budget, n)
        k = self.n_clusters or auto_clusters(n, self.per_cluster)
        keep, _, _, _ = semdedup_mask(X, self.eps, k, self.seed)
        kept = np.flatnonzero(keep)
        k2 = self.n_clusters or auto_clusters(len(kept), self.per_cluster)
        _, _, to_centroid = clusters(X[kept], k2, seed=self.seed + 1)
        # score: 1 - cosine to centroid; higher = less prototypical = kept first
        score = 1.0 - to_centroid.astype(np.float64)
        order = topk(score, min(b, len(kept)))
        diag = {"n": n, "budget": b, "eps": self.eps, "n_clusters": k, "kept_after_semdedup": int(len(kept)),
                "semdedup_removed_fraction": float(1 - len(kept) / n),
                "prototypes_pruned": int(max(0, len(kept) - b)), "budget_unmet": bool(len(kept) < b)}
        return Selection(kept[order], score[order], np.ones(len(order)), diag)
