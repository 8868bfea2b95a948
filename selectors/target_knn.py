"""Target similarity selection, RDS+ (Ivison et al. 2025, "Large-Scale Data Selection for Instruction
Tuning"): score every pool document by cosine similarity to every target example and select round-robin
over the target examples: each example in turn takes its most similar document not yet taken, until the
budget is met (`aggregate: round_robin`, the default).

Other settings: `max` ranks the pool by its best similarity to any target example (one global top-k, so a
target example with many close documents can take most of the budget); `mean` compares with the mean
target embedding (the centroid; what this selector did before, kept for comparison).

Representation, plainly: RDS+ embeds with the model being trained (position-weighted mean of its final
hidden states). gristmill embeds with the select stage's `model_path`, all-MiniLM-L6-v2 by default, a
generic sentence encoder, NOT the trained model. Point `model_path` at a local Hugging Face causal-LM
folder (config.json + weights + tokenizer) to use that model's own hidden states: sentence-transformers
wraps such a folder with a plain (unweighted) mean over the last hidden states.

Similarities come from `cosine` (float64 products rounded to float32) and ranked lists from `top_rows`
(ties to the lower row): the Spark path (`spark_select.target_knn`) calls the same two, batch by batch, and
so picks what this one picks.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from .base import (
    Selection,
    Selector,
    SelectorError,
    SelectorParams,
    check_embeddings,
    check_target,
    resolve_budget,
    topk,
)

AGGREGATES = ("round_robin", "max", "mean")


def cosine(X: np.ndarray, T: np.ndarray, block: int = 4096) -> np.ndarray:
    """X @ T.T (unit rows: cosine), computed in float64 and rounded to float32, so a row's value does not
    depend on which rows share its batch."""
    T64 = np.asarray(T, np.float64).T
    out = np.empty((len(X), T64.shape[1]), np.float32)
    for lo in range(0, len(X), block):
        out[lo:lo + block] = np.asarray(X[lo:lo + block], np.float64) @ T64
    return out


def top_rows(s: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values of s, best first, ties to the lower index (as base.topk, without
    sorting all of s).

    >>> top_rows(np.array([0.1, 0.5, 0.5, 0.9]), 2).tolist()
    [3, 1]
    """
    n = len(s)
    if k >= n:
        return np.lexsort((np.arange(n), -s))
    v = np.partition(s, n - k)[n - k]
    pick = np.concatenate([np.flatnonzero(s > v), np.flatnonzero(s == v)])[:k]
    return pick[np.lexsort((pick, -s[pick]))]


def round_robin(sims: np.ndarray, idx: np.ndarray, budget: int) -> tuple[list[int], list[float], bool]:
    """Picks from per-target ranked lists (rows of idx, best first; -1 = none): target examples take
    turns, each taking its best item not yet taken. Returns (picks, their similarity to the target that
    took them, whether some list ran out before the budget was met).

    >>> idx = np.array([[0, 1, 2], [0, 2, 1]])
    >>> sims = np.array([[0.9, 0.8, 0.1], [0.7, 0.6, 0.5]])
    >>> round_robin(sims, idx, 3)[:2]
    ([0, 2, 1], [0.9, 0.6, 0.8])
    """
    taken: set[int] = set()
    picks, scores = [], []
    ptr = np.zeros(len(idx), dtype=np.int64)
    ran_out = False
    while len(picks) < budget:
        moved = False
        for t in range(len(idx)):
            row = idx[t]
            while ptr[t] < len(row) and (row[ptr[t]] < 0 or int(row[ptr[t]]) in taken):
                ptr[t] += 1
            if ptr[t] == len(row):
                ran_out = True
                continue
            j = int(row[ptr[t]])
            taken.add(j)
            picks.append(j)
            scores.append(float(sims[t, ptr[t]]))
            moved = True
            if len(picks) == budget:
                break
        if not moved:
            break
    return picks, scores, ran_out


class TargetKNNParams(SelectorParams):
    aggregate: Literal["round_robin", "max", "mean"] = Field(
        "round_robin", description="round_robin: RDS+; max: best cosine to any example; mean: to the centroid")


class TargetKNN(Selector):
    name = "target_knn"
    needs_target = True
    Params = TargetKNNParams

    def select(self, X, budget, target=None) -> Selection:
        X = check_embeddings(X)
        T = check_embeddings(check_target(target), what="target embeddings")
        if T.shape[1] != X.shape[1]:
            raise SelectorError(f"target embeddings have {T.shape[1]} dimensions but the corpus has "
                                f"{X.shape[1]}; embed both with the same model")
        n = len(X)
        b = resolve_budget(budget, n)
        if self.aggregate == "round_robin":
            picks, score = self._round_robin(X, T, b)
        else:
            if self.aggregate == "mean":
                centre = T.mean(axis=0)
                all_scores = cosine(X, (centre / max(np.linalg.norm(centre), 1e-12))[None, :])[:, 0]
            else:
                all_scores = cosine(X, T).max(axis=1)
            all_scores = all_scores.astype(np.float64)
            picks = topk(all_scores, b)
            score = all_scores[picks]
        picks = np.asarray(picks, dtype=np.int64)
        diag = {"n": n, "budget": b, "target_size": len(T), "aggregate": self.aggregate,
                "mean_score_selected": float(np.mean(score)) if len(score) else 0.0}
        if self.aggregate != "round_robin":
            diag["mean_score_all"] = float(all_scores.mean())
        return Selection(picks, np.asarray(score, dtype=np.float64), np.ones(len(picks)), diag)

    @staticmethod
    def _round_robin(X: np.ndarray, T: np.ndarray, b: int):
        """Each target example's nearest documents (exact search), deep enough for its share of the budget;
        searched again twice as deep when overlaps between the examples' lists exhaust one."""
        n = len(X)
        depth = min(n, -(-b // len(T)) * 2 + 8)
        S = cosine(X, T)
        while True:
            idx = np.stack([top_rows(S[:, t], depth) for t in range(len(T))])
            sims = np.take_along_axis(S.T, idx, axis=1)
            picks, score, ran_out = round_robin(sims, idx, b)
            # an example whose list ran out lost turns: the order is only right when none did
            if not ran_out or depth >= n:
                return picks, np.asarray(score)
            depth = min(n, depth * 2)
