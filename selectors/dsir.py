"""DSIR (Xie et al. 2023): importance resampling with hashed n-gram features.

Two bag-of-ngrams models, p_target and p_raw, over hashed word unigrams and bigrams; a document's log
importance weight is sum_f count_f * (log p_target[f] - log p_raw[f]); Gumbel top-k draws the budget
without replacement in proportion to the weights. The pieces are pure functions so the select stage
can count n-grams and score documents inside Spark workers.
"""
from __future__ import annotations

import numpy as np

from .base import Selection, Selector, SelectorError, check_target, gumbel_topk, resolve_budget

DEFAULT_BUCKETS = 2 ** 16


def ngram_counts(texts: list[str | None], buckets: int = DEFAULT_BUCKETS):
    """Sparse (docs x buckets) counts of lowercased word unigrams and bigrams (murmurhash: stable across
    processes, unlike Python's hash)."""
    from sklearn.feature_extraction.text import HashingVectorizer
    vec = HashingVectorizer(n_features=buckets, ngram_range=(1, 2), alternate_sign=False, norm=None,
                            lowercase=True, token_pattern=r"(?u)\b\w+\b")
    return vec.transform([t or "" for t in texts])


def log_ratio(target_totals: np.ndarray, raw_totals: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """log p_target - log p_raw per bucket, with add-alpha smoothing so unseen n-grams stay finite."""
    pt = (target_totals + alpha) / (target_totals.sum() + alpha * len(target_totals))
    pr = (raw_totals + alpha) / (raw_totals.sum() + alpha * len(raw_totals))
    return np.log(pt) - np.log(pr)


def log_weights(counts, ratio: np.ndarray) -> np.ndarray:
    return np.asarray(counts @ ratio).ravel()


class DSIR(Selector):
    name = "dsir"
    input = "texts"
    needs_target = True

    def __init__(self, buckets: int = DEFAULT_BUCKETS, alpha: float = 1.0, seed: int = 0):
        super().__init__(seed)
        if buckets < 2:
            raise SelectorError(f"dsir buckets must be at least 2, got {buckets}")
        self.buckets, self.alpha = buckets, alpha

    def ratio(self, texts, target) -> np.ndarray:
        raw = np.asarray(ngram_counts(texts, self.buckets).sum(axis=0)).ravel()
        tgt = np.asarray(ngram_counts(check_target(target), self.buckets).sum(axis=0)).ravel()
        return log_ratio(tgt, raw, self.alpha)

    def select(self, X, budget, target=None) -> Selection:
        check_target(target)
        b = resolve_budget(budget, len(X))
        ratio = self.ratio(X, target)
        logw = log_weights(ngram_counts(X, self.buckets), ratio)
        return self.resample(logw, b, len(target))

    def resample(self, logw: np.ndarray, b: int, target_size: int) -> Selection:
        picks = gumbel_topk(logw, b, np.random.default_rng(self.seed))
        diag = {"n": len(logw), "budget": b, "target_size": target_size, "buckets": self.buckets,
                "mean_log_weight_selected": float(logw[picks].mean()), "mean_log_weight_all": float(logw.mean())}
        return Selection(picks, logw[picks], np.ones(b), diag)
