"""Target similarity, as RDS+ (Ivison et al. 2025): cosine of each document's (mean-pooled) embedding
to a target set, top-k. `aggregate: mean` compares with the target's mean embedding, `max` with its
nearest target example."""
from __future__ import annotations

import numpy as np

from .base import Selection, Selector, SelectorError, check_embeddings, check_target, resolve_budget, topk
from .knn import knn


class TargetKNN(Selector):
    name = "target_knn"
    needs_target = True

    def __init__(self, aggregate: str = "mean", seed: int = 0):
        super().__init__(seed)
        if aggregate not in ("mean", "max"):
            raise SelectorError(f"target_knn aggregate must be 'mean' or 'max', got {aggregate!r}")
        self.aggregate = aggregate

    def select(self, X, budget, target=None) -> Selection:
        X = check_embeddings(X)
        T = check_embeddings(check_target(target), what="target embeddings")
        if T.shape[1] != X.shape[1]:
            raise SelectorError(f"target embeddings have {T.shape[1]} dimensions but the corpus has "
                                f"{X.shape[1]}; embed both with the same model")
        b = resolve_budget(budget, len(X))
        if self.aggregate == "mean":
            centre = T.mean(axis=0)
            score = X @ (centre / max(np.linalg.norm(centre), 1e-12))
        else:
            sims, _ = knn(T, 1, index="flat", queries=X)
            score = sims[:, 0]
        score = score.astype(np.float64)
        picks = topk(score, b)
        diag = {"n": len(X), "budget": b, "target_size": len(T), "aggregate": self.aggregate,
                "mean_score_selected": float(score[picks].mean()), "mean_score_all": float(score.mean())}
        return Selection(picks, score[picks], np.ones(b), diag)
