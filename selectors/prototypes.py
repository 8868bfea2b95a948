"""SSL prototypes (Sorscher et al. 2022, "Beyond neural scaling laws: beating power law scaling via data
pruning", Section 6): k-means in a self-supervised embedding space; an example's difficulty is its cosine
distance to its nearest centroid (its prototype). Pruning keeps the hardest (farthest) or the easiest
(closest) examples, and the paper's rule for which: keep hard examples when data is abundant, easy ones when
it is scarce (its theory, Fig. 1: the best strategy flips as the data per parameter grows).

`keep: hard` (default: what the paper does on ImageNet, and what D4's second step does) or `easy`; `keep:
auto` applies the paper's rule with our threshold, since the paper gives the rule, not a number: hard when
the corpus has at least `abundant_rows` documents, easy below. D4 (d4.py) calls the same two functions after
SemDeDup; the Spark path (spark_semdedup.py) computes the same distances in the workers.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from .base import Selection, Selector, SelectorParams, check_embeddings, resolve_budget, topk
from .semdedup import auto_clusters, clusters


def prototype_distance(X: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """1 - cosine to the nearest k-means centroid, per row (unit rows), as float64."""
    return 1.0 - clusters(X, n_clusters, seed=seed)[2].astype(np.float64)


def by_difficulty(distance: np.ndarray, b: int, keep: str) -> np.ndarray:
    """The b rows to keep, in rank order: hard = farthest from its prototype first, easy = closest first;
    ties to the lower row.

    >>> d = np.array([0.1, 0.5, 0.3])
    >>> by_difficulty(d, 2, "hard").tolist(), by_difficulty(d, 2, "easy").tolist()
    ([1, 2], [0, 2])
    """
    return topk(distance if keep == "hard" else -distance, b)


def resolve_keep(keep: str, n: int, abundant_rows: int) -> str:
    """The paper's rule under `auto`: hard when data is abundant, easy when scarce."""
    if keep != "auto":
        return keep
    return "hard" if n >= abundant_rows else "easy"


class SSLPrototypesParams(SelectorParams):
    keep: Literal["hard", "easy", "auto"] = Field(
        "hard", description="hard: farthest from the prototype first; easy: closest first; auto: the paper's rule "
                            "(hard when the corpus has at least abundant_rows documents, easy below)")
    abundant_rows: int = Field(1_000_000, ge=1, description="corpus size from which `auto` counts data as "
                                                            "abundant (our threshold; the paper gives none)")
    n_clusters: int | None = Field(None, ge=1, description="k-means clusters; default n / per_cluster")
    per_cluster: int = Field(200, ge=1, description="rows per cluster when n_clusters is not given")


class SSLPrototypes(Selector):
    name = "ssl_prototypes"
    Params = SSLPrototypesParams
    summary = "mean_score"

    def spark_ready(self) -> bool:
        return True

    def select(self, X, budget, target=None) -> Selection:
        X = check_embeddings(X)
        n = len(X)
        b = resolve_budget(budget, n)
        k = self.n_clusters or auto_clusters(n, self.per_cluster)
        keep = resolve_keep(self.keep, n, self.abundant_rows)
        dist = prototype_distance(X, k, self.seed)
        picks = by_difficulty(dist, b, keep)
        diag = {"n": n, "budget": b, "n_clusters": k, "keep": keep,
                "mean_distance_selected": float(dist[picks].mean()), "mean_distance_all": float(dist.mean())}
        return Selection(picks, dist[picks], np.ones(b), diag)
