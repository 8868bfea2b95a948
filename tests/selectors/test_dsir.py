"""DSIR against a reference written from the paper (Xie et al. 2023, Sections 3-4) and the authors'
HashedNgramDSIR: hashed word unigrams + bigrams in 10,000 buckets, p_raw and p_target as normalized counts,
log(p + 1e-8), a document's log weight as the sum over its n-grams of log p_target - log p_raw (scaled to
128-word chunks, the paper's unit), documents under 100 words out, Gumbel top-k."""
from __future__ import annotations

import doctest
import gzip
import json
import re
from collections import Counter

import numpy as np
import pytest
from sklearn.utils import murmurhash3_32

from gristmill.selectors import dsir as dsir_mod
from gristmill.selectors.base import SelectorError, get_selector, gumbel_topk


def _domains():
    from helpers import TEST_DATA
    with gzip.open(TEST_DATA / "domains" / "domain_mix_permissive.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r["domain"], []).append(r["text"])
    return by


def reference_log_weights(pool, target, m=10_000, chunk=128, min_words=100):
    """The paper's estimator, spelled out with Counters (bucket = |murmurhash3_32(n-gram)| mod m)."""
    def feats(text):
        w = re.findall(r"\w+|[^\w\s]+", text.lower())
        grams = w + [f"{a} {b}" for a, b in zip(w, w[1:])]
        return Counter(abs(murmurhash3_32(g, seed=0)) % m for g in grams), len(w)

    def dist(texts):
        c = Counter()
        for t in texts:
            c.update(feats(t)[0])
        p = np.zeros(m)
        for k, v in c.items():
            p[k] = v
        return p / p.sum()

    log_diff = np.log(dist(target) + 1e-8) - np.log(dist(pool) + 1e-8)
    out = []
    for t in pool:
        f, n_words = feats(t)
        s = sum(v * log_diff[k] for k, v in f.items())
        out.append(s * chunk / n_words if n_words >= min_words else -np.inf)
    return np.array(out)


def test_doctests():
    assert doctest.testmod(dsir_mod).failed == 0


def test_log_weights_match_the_paper_reference():
    by = _domains()
    pool = [t for d in sorted(by) for t in by[d][5:]]
    target = by["review"][:5]
    sel = get_selector("dsir")
    got = sel.scores(pool, sel.ratio(pool, target))
    ref = reference_log_weights(pool, target)
    assert np.array_equal(np.isfinite(got), np.isfinite(ref)) and (~np.isfinite(ref)).sum() > 10
    ok = np.isfinite(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-9, atol=1e-6)
    top = get_selector("dsir", top_k=True).select(pool, 10, target=target).indices
    assert top.tolist() == np.argsort(-ref, kind="stable")[:10].tolist()


def test_gumbel_top_k_samples_in_proportion_to_the_weights():
    # Gumbel-max: the first pick is item i with probability exp(w_i) / sum exp(w)
    logw = np.log(np.array([0.6, 0.3, 0.1]))
    rng = np.random.default_rng(0)
    first = np.bincount([gumbel_topk(logw, 1, rng)[0] for _ in range(20_000)], minlength=3) / 20_000
    np.testing.assert_allclose(first, [0.6, 0.3, 0.1], atol=0.015)


@pytest.mark.parametrize("want", ["code", "review", "math"])
def test_a_target_from_one_domain_picks_that_domain(want):
    by = _domains()
    pool, labels = [], []
    for d in sorted(by):
        rows = by[d][5:] if d == want else by[d]
        pool += rows
        labels += [d] * len(rows)
    sel = get_selector("dsir", seed=0).select(pool, 10, target=by[want][:5])
    hit = np.mean([labels[i] == want for i in sel.indices])
    base = labels.count(want) / len(labels)
    assert hit >= 0.8, (want, hit, base)


def test_short_documents_are_not_candidates_and_the_budget_says_so():
    long_doc = " ".join(["wheat rye barley oats"] * 40)
    sel = get_selector("dsir").select([long_doc, "too short", "also short"], 2, target=["wheat and rye"])
    assert sel.indices.tolist() == [0] and sel.diagnostics["budget_unmet"] and sel.diagnostics["too_short"] == 2
    every = get_selector("dsir", min_length=0).select([long_doc, "too short", "also short"], 2,
                                                      target=["wheat and rye"])
    assert len(every) == 2


def test_bad_parameters_name_the_key():
    with pytest.raises(SelectorError, match="'buckets'"):
        get_selector("dsir", buckets=1)
    with pytest.raises(SelectorError, match="no parameter 'alpha'"):
        get_selector("dsir", alpha=1.0)
