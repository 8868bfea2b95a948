"""DSIR (Xie et al. 2023, "Data Selection for Language Models via Importance Resampling"), as the paper and the
authors' `data-selection` package (github.com/p-lambda/dsir, `HashedNgramDSIR`) do it:

1. Features: a document's lowercased words (NLTK's WordPunctTokenizer, `\\w+|[^\\w\\s]+`) and their bigrams,
   hashed into `buckets` = 10,000 buckets (the paper's m), as counts.
2. Two bag-of-ngrams models over the buckets: p_raw from the raw corpus's counts, p_target from the target's
   counts plus `target_smoothing` pseudo-counts (the authors' `target_laplace_smoothing`, default 0); no
   smoothing of p_raw. Each log is taken of p + 1e-8, as the authors do, so a bucket the target lacks costs
   about log(1e-8 / p_raw) per occurrence.
3. A document's log importance weight: sum over buckets of count x (log p_target - log p_raw).
4. Documents shorter than `min_length` words (the authors' `min_example_length`, default 100) are not
   candidates.
5. Gumbel top-k: the budget is drawn without replacement in proportion to the importance weights
   (`top_k: true`, the authors' option, takes the largest weights instead).

Our choices, each with the published value a setting away: the hash is MurmurHash3 (scikit-learn's
HashingVectorizer, fast and stable across processes; the authors use SHA-256 mod m: any uniform hash is the
same method). Fewer candidates than the budget selects all of them and says so (`budget_unmet`).

The pieces are pure functions so the select stage can count n-grams and score documents inside Spark workers.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from .base import Selection, SelectorParams, TextSelector, check_target, gumbel_topk, resolve_budget, topk

DEFAULT_BUCKETS = 10_000
WORDPUNCT = r"\w+|[^\w\s]+"  # nltk.tokenize.WordPunctTokenizer's pattern
FLOOR = 1e-8  # the authors' log(p + 1e-8)


def ngram_counts(texts: list[str | None], buckets: int = DEFAULT_BUCKETS):
    """Sparse (docs x buckets) counts of lowercased word unigrams and bigrams (MurmurHash3: stable across
    processes, unlike Python's hash)."""
    from sklearn.feature_extraction.text import HashingVectorizer
    vec = HashingVectorizer(n_features=buckets, ngram_range=(1, 2), alternate_sign=False, norm=None,
                            lowercase=True, token_pattern=WORDPUNCT)
    return vec.transform([t or "" for t in texts])


def words(counts) -> np.ndarray:
    """Words per document from its unigram + bigram counts: w words give w + (w - 1) n-grams."""
    total = np.asarray(counts.sum(axis=1)).ravel()
    return (total + 1) // 2


def log_ratio(target_totals: np.ndarray, raw_totals: np.ndarray, target_smoothing: float = 0.0) -> np.ndarray:
    """log p_target - log p_raw per bucket: p_target with `target_smoothing` pseudo-counts, p_raw unsmoothed,
    each log of p + 1e-8.

    >>> log_ratio(np.array([1.0, 0.0]), np.array([1.0, 1.0])).round(2).tolist()
    [0.69, -17.73]
    """
    pt = (target_totals + target_smoothing) / max((target_totals + target_smoothing).sum(), 1e-300)
    pr = raw_totals / max(raw_totals.sum(), 1e-300)
    return np.log(pt + FLOOR) - np.log(pr + FLOOR)


def log_weights(counts, ratio: np.ndarray) -> np.ndarray:
    return np.asarray(counts @ ratio).ravel()


class DSIRParams(SelectorParams):
    buckets: int = Field(DEFAULT_BUCKETS, ge=2, description="hash buckets for unigrams + bigrams (paper: 10,000)")
    target_smoothing: float = Field(0.0, ge=0, description="pseudo-count added to every target bucket "
                                                           "(the authors' target_laplace_smoothing, default 0)")
    min_length: int = Field(100, ge=0, description="documents with fewer words are not candidates "
                                                   "(the authors' min_example_length)")
    chunk_words: int | None = Field(128, ge=1, description="compare documents at this length: a document's log "
                                                           "weight per chunk_words words (paper: 128-word chunks); "
                                                           "null sums over the whole document")
    top_k: bool = Field(False, description="take the largest importance weights instead of Gumbel resampling")


class DSIR(TextSelector):
    name = "dsir"
    needs_target = True
    Params = DSIRParams

    def ratio(self, texts, target) -> np.ndarray:
        raw = np.asarray(ngram_counts(texts, self.buckets).sum(axis=0)).ravel()
        tgt = np.asarray(ngram_counts(check_target(target), self.buckets).sum(axis=0)).ravel()
        return log_ratio(tgt, raw, self.target_smoothing)

    def scores(self, texts: list[str], ratio: np.ndarray) -> np.ndarray:
        """Log importance weights; -inf for documents below min_length (never candidates)."""
        counts = ngram_counts(texts, self.buckets)
        w = words(counts)
        logw = log_weights(counts, ratio)
        if self.chunk_words:
            logw = logw * self.chunk_words / np.maximum(w, 1)
        return np.where(w >= max(self.min_length, 1), logw, -np.inf)

    def select(self, X, budget, target=None) -> Selection:
        check_target(target)
        b = resolve_budget(budget, len(X))
        return self.resample(self.scores(X, self.ratio(X, target)), b, len(target))

    def resample(self, logw: np.ndarray, b: int, target_size: int) -> Selection:
        ok = np.isfinite(logw)
        cands = np.flatnonzero(ok)
        take = min(b, len(cands))
        if self.top_k:
            order = topk(logw[cands], take)
        else:
            order = gumbel_topk(logw[cands], take, np.random.default_rng(self.seed))
        picks = cands[order]
        diag = {"n": len(logw), "budget": b, "target_size": target_size, "buckets": self.buckets,
                "candidates": int(len(cands)), "too_short": int((~ok).sum()), "budget_unmet": bool(take < b),
                "mean_log_weight_selected": float(logw[picks].mean()) if take else 0.0,
                "mean_log_weight_candidates": float(logw[cands].mean()) if len(cands) else 0.0}
        return Selection(picks, logw[picks], np.ones(take), diag)

    # -- as Spark jobs: n-gram totals summed in the workers, weights computed there, a distributed Gumbel top-k --
    def payload(self, job) -> dict:
        from .spark_select import column_sums
        buckets = self.buckets
        raw = column_sums(job.df, lambda texts: np.asarray(ngram_counts(texts, buckets).sum(axis=0)).ravel(), buckets)
        tgt = np.asarray(ngram_counts(check_target(job.target), buckets).sum(axis=0)).ravel()
        return {"ratio": log_ratio(tgt, raw, self.target_smoothing), "target_size": len(job.target)}

    def score_texts(self, texts, payload) -> np.ndarray:
        return self.scores(texts, payload["ratio"])

    def pick(self, scores, b, payload) -> Selection:
        return self.resample(scores, b, payload["target_size"])

    def rank_spark(self, scored, b, payload):
        from pyspark.sql import functions as F

        from .spark_select import gumbel_keys, top_k
        cands = scored.filter(F.col("score") > float("-inf"))
        m = cands.count()
        if self.top_k:
            ranked = top_k(cands, b)
        else:
            keyed = cands.mapInArrow(gumbel_keys(self.seed), "id string, score double, key double")
            ranked = top_k(keyed, b, key="key")
        return ranked, {"budget": b, "target_size": payload["target_size"], "buckets": self.buckets,
                        "candidates": m, "budget_unmet": m < b}
