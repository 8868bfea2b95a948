"""The pure MinHash helpers: doctests, shingle rules, estimate vs exact Jaccard, torch == NumPy."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from gristmill.stages.dedup import signatures as minhash


def test_doctests():
    result = doctest.testmod(minhash)
    assert result.attempted >= 8 and result.failed == 0


def _web_texts(n=120):
    from helpers import python_env_docs
    texts = [d["text"] for d in sorted(python_env_docs(), key=lambda d: d["id"])]
    return [t for t in texts if len(minhash.words(t)) > 50][:n]


def test_shingles_ignore_case_and_punctuation_but_not_order():
    a = minhash.shingle_set("The quick brown fox jumps over the lazy dog", 3)
    b = minhash.shingle_set("the QUICK, brown fox... jumps over the lazy dog!", 3)
    c = minhash.shingle_set("dog lazy the over jumps fox brown quick the", 3)
    assert a == b
    assert not (a & c)


def test_short_documents_are_one_shingle_and_empty_have_none():
    hashes, doc = minhash.shingle_hashes_batch(["two words", "", None, "two words", "two words more"], n=5)
    assert doc.tolist() == [0, 3, 4]
    assert hashes[0] == hashes[1] != hashes[2]
    # the short doc must not read into its neighbour's words
    h_alone, _ = minhash.shingle_hashes_batch(["two words"], n=5)
    assert h_alone[0] == hashes[0]


def test_signatures_estimate_real_jaccard():
    texts = _web_texts(40)
    rng = np.random.default_rng(0)
    edited = []
    for t in texts:  # substitute ~5% of the words: true Jaccard around 0.6-0.8
        ws = t.split()
        for i in rng.choice(len(ws), size=max(1, len(ws) // 20), replace=False):
            ws[i] = "zzz" + str(i)
        edited.append(" ".join(ws))
    a, b = minhash.permutations(256, seed=7)
    h, d = minhash.shingle_hashes_batch(texts + edited, 5)
    sig = minhash.signatures(h, d, 2 * len(texts), a, b)
    errors = []
    for i in range(len(texts)):
        true = minhash.jaccard(minhash.shingle_set(texts[i]), minhash.shingle_set(edited[i]))
        errors.append(abs(minhash.estimate_jaccard(sig[i], sig[len(texts) + i]) - true))
    assert np.mean(errors) < 0.04 and max(errors) < 0.15


def test_signatures_are_seeded():
    h, d = minhash.shingle_hashes_batch(["alpha beta gamma delta epsilon zeta eta"], 3)
    s1 = minhash.signatures(h, d, 1, *minhash.permutations(16, seed=1))
    s2 = minhash.signatures(h, d, 1, *minhash.permutations(16, seed=1))
    s3 = minhash.signatures(h, d, 1, *minhash.permutations(16, seed=2))
    assert (s1 == s2).all() and (s1 != s3).any()


def test_document_spanning_chunks_gets_the_same_signature(monkeypatch):
    text = " ".join(f"w{i}" for i in range(3000))
    h, d = minhash.shingle_hashes_batch(["x y z", text], 5)
    a, b = minhash.permutations(32)
    whole = minhash.signatures(h, d, 2, a, b)
    monkeypatch.setattr(minhash, "CHUNK", 700)
    assert (minhash.signatures(h, d, 2, a, b) == whole).all()


def test_torch_path_matches_numpy_on_cpu():
    texts = _web_texts(30) + ["", "short one"]
    h, d = minhash.shingle_hashes_batch(texts, 5)
    a, b = minhash.permutations(112)
    cpu = minhash.signatures(h, d, len(texts), a, b)
    torch_cpu = minhash.signatures_torch(h, d, len(texts), a, b, device="cpu")
    assert cpu.dtype == torch_cpu.dtype == np.uint32
    assert (cpu == torch_cpu).all()
    assert (cpu[len(texts) - 2] == minhash.EMPTY).all()


@pytest.mark.gpu
def test_torch_path_matches_numpy_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    texts = _web_texts(60)
    h, d = minhash.shingle_hashes_batch(texts, 5)
    a, b = minhash.permutations(112)
    assert (minhash.signatures(h, d, len(texts), a, b)
            == minhash.signatures_torch(h, d, len(texts), a, b, device="cuda")).all()


def test_band_hashes_need_equal_bands():
    sig = np.arange(2 * 112, dtype=np.uint32).reshape(2, 112)
    sig[1, :8] = sig[0, :8]  # only band 0 agrees
    bh = minhash.band_hashes(sig, 14)
    assert bh.dtype == np.int64
    assert bh[0, 0] == bh[1, 0] and (bh[0, 1:] != bh[1, 1:]).all()
    with pytest.raises(ValueError, match="multiple of bands"):
        minhash.band_hashes(sig, 5)


def test_estimates_within_the_binomial_bound_on_random_real_text_pairs():
    # Broder: each permutation agrees with probability J, so the estimate over k permutations has standard
    # deviation sqrt(J(1 - J) / k); pairs from real documents with random edits cover J from 0 to 1.
    texts = _web_texts(80)
    rng = np.random.default_rng(11)
    pairs = []
    for _ in range(60):
        a = texts[rng.integers(len(texts))]
        ws = a.split()
        rate = rng.uniform(0.0, 0.4)
        ws = [("x%d" % i if rng.random() < rate else w) for i, w in enumerate(ws)]
        b = " ".join(ws) if rng.random() < 0.8 else texts[rng.integers(len(texts))]
        pairs.append((a, b))
    k = 256
    a_, b_ = minhash.permutations(k, seed=5)
    flat = [t for p in pairs for t in p]
    h, d = minhash.shingle_hashes_batch(flat, 5)
    sig = minhash.signatures(h, d, len(flat), a_, b_)
    js, z = [], []
    for i, (a, b) in enumerate(pairs):
        exact = minhash.jaccard(minhash.shingle_set(a), minhash.shingle_set(b))
        est = minhash.estimate_jaccard(sig[2 * i], sig[2 * i + 1])
        sd = max(np.sqrt(exact * (1 - exact) / k), 1 / k)
        js.append(exact)
        z.append((est - exact) / sd)
    z = np.array(z)
    assert np.abs(z).max() < 4.5  # 60 pairs: a 4.5-sigma miss has odds ~1e-4
    assert abs(z.mean()) < 0.6  # unbiased (the mean of 60 z-scores has sd ~0.13)
    assert min(js) < 0.2 and max(js) > 0.8  # the pairs span the range



def test_word_hashes_do_not_depend_on_batching_or_group_boundaries(monkeypatch):
    texts = [t for t in _web_texts(40) if max(map(len, minhash.words(t))) <= 64][:20]
    assert len(texts) >= 10
    alone = [minhash.word_token_hashes([t])[0] for t in texts]
    together, counts = minhash.word_token_hashes(texts)
    assert counts.tolist() == [len(minhash.words(t)) for t in texts]
    assert (np.concatenate(alone) == together).all()
    monkeypatch.setattr(minhash, "_SPAN", 64)  # many groups, and every word over 64 characters hashed apart
    blob = "q" * 200
    small, _ = minhash.word_token_hashes(texts + [f"{blob} and {blob}"])
    assert (small[:len(together)] == together).all()
    assert small[-3] == small[-1] != small[-2]
