"""D4 (Tirumala et al. 2023, "D4: Improving LLM Pretraining via Document De-Duplication and
Diversification"): SemDeDup as published first (`semdedup.py`: drop an item whose cosine to any earlier
item of its cluster exceeds 1 - eps), then k-means again on what is left and prune with SSL Prototypes
(Sorscher et al. 2022): the documents closest to their new centroid (most prototypical) go first, one
ranking over all clusters, until the budget is met (prototypes.py's functions, which the ssl_prototypes
selector also runs on its own). The Spark path (`spark_semdedup.py`) runs the same
steps as Spark jobs."""
from __future__ import annotations

import numpy as np
from pydantic import Field

from .base import Selection, Selector, SelectorParams, check_embeddings, resolve_budget
from .prototypes import by_difficulty, prototype_distance
from .semdedup import auto_clusters, semdedup_mask


class D4Params(SelectorParams):
    eps: float = Field(0.05, ge=0, lt=1, description="SemDeDup's threshold: cosine above 1 - eps is a duplicate")
    n_clusters: int | None = Field(None, ge=1, description="k-means clusters (both steps); default n / per_cluster")
    per_cluster: int = Field(200, ge=1, description="rows per cluster when n_clusters is not given")


class D4(Selector):
    name = "d4"
    Params = D4Params
    summary = "mean_score"

    def spark_ready(self) -> bool:
        return True

    def select_spark(self, job):
        from .spark_semdedup import d4
        return d4(job.spark, self, job.folder, job.keys, job.n, job.budget, job.sample_rows)

    def select(self, X, budget, target=None) -> Selection:
        X = check_embeddings(X)
        n = len(X)
        b = resolve_budget(budget, n)
        k = self.n_clusters or auto_clusters(n, self.per_cluster)
        keep, _, _, _ = semdedup_mask(X, self.eps, k, self.seed)
        kept = np.flatnonzero(keep)
        k2 = self.n_clusters or auto_clusters(len(kept), self.per_cluster)
        # SSL prototypes' score: 1 - cosine to the centroid; higher = less prototypical = kept first
        score = prototype_distance(X[kept], k2, seed=self.seed + 1)
        order = by_difficulty(score, min(b, len(kept)), "hard")
        diag = {"n": n, "budget": b, "eps": self.eps, "n_clusters": k, "kept_after_semdedup": int(len(kept)),
                "semdedup_removed_fraction": float(1 - len(kept) / n),
                "prototypes_pruned": int(max(0, len(kept) - b)), "budget_unmet": bool(len(kept) < b)}
        return Selection(kept[order], score[order], np.ones(len(order)), diag)
