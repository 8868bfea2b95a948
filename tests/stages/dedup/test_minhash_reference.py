"""The vectorized MinHash path against a plain-Python reference written from the definitions, not from our code.

Broder (1997), "On the resemblance and containment of documents": a document is the set S of its contiguous
w-shingles (w = 5 tokens); for each of k random permutations pi_i of the shingle universe its sketch keeps
min{pi_i(s) : s in S}. The reference below builds S one shingle at a time as that paper does, with the
functions the signatures.py docstring names for each step (tokens: lower-cased `\\w+` runs; token hash: the
polynomial of code points in base P^-1 with the length mixed in, then splitmix64; shingle hash: the sum of
token hashes times odd per-position constants, splitmix64, low 32 bits; pi_i(x) = ((a_i x + b_i) mod 2^64) >> 32,
Dietzfelbinger 1996), and LSH bands as Indyk & Motwani (1998) / Leskovec et al. (MMDS ch. 3) describe them:
rows r of each band b hashed together (FNV-1a over the 32-bit values, then splitmix64). Python integers,
one word and one shingle at a time: no NumPy, nothing shared with the code under test but the texts.
"""
from __future__ import annotations

import random
import re

import numpy as np

from gristmill.stages.dedup import signatures as minhash

M64 = (1 << 64) - 1
P = 0x100000001B3 * 2 + 1
P_INV = pow(P, -1, 1 << 64)
LEN_SALT = 0xD6E8FEB86659FD93


def mix64(h: int) -> int:
    """splitmix64's finalizer (Steele, Lea & Flood 2014)."""
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M64
    return h ^ (h >> 31)


def word_hash(word: str) -> int:
    poly = sum(ord(c) * pow(P_INV, j, 1 << 64) for j, c in enumerate(word)) & M64
    return mix64(poly ^ ((len(word) * LEN_SALT) & M64))


def shingles(text: str, w: int) -> set[int]:
    """S(D, w): the distinct hashes of the contiguous w-word shingles (a document of 1..w-1 words is one)."""
    toks = [word_hash(t) for t in re.findall(r"\w+", text.lower())]
    if not toks:
        return set()
    windows = [toks[i:i + w] for i in range(len(toks) - w + 1)] if len(toks) >= w else [toks]
    pos = [(0x9E3779B97F4A7C15 * (2 * k + 1)) & M64 for k in range(w)]
    return {mix64(sum(t * p for t, p in zip(win, pos)) & M64) & 0xFFFFFFFF for win in windows}


def sketch(text: str, a: list[int], b: list[int], w: int = 5) -> list[int] | None:
    s = shingles(text, w)
    if not s:
        return None
    return [min((((ai * x + bi) & M64) >> 32) for x in s) for ai, bi in zip(a, b)]


def band_keys(sig: list[int], bands: int) -> list[int]:
    r = len(sig) // bands
    out = []
    for band in range(bands):
        h = 0xCBF29CE484222325
        for v in sig[band * r:(band + 1) * r]:
            h = ((h ^ v) * 0x100000001B3) & M64
        key = mix64(h)
        out.append(key - (1 << 64) if key >> 63 else key)  # Spark's signed long
    return out


def _texts() -> list[str]:
    from helpers import python_env_docs
    docs = sorted(python_env_docs(), key=lambda d: d["id"])
    real = [d["text"] for d in docs if d["text"] and len(d["text"]) < 6000][:60]
    # and the edges: short documents, no words, punctuation only, mixed case, digits, underscores, non-Latin words
    return real + ["", "   ", "!!! ???", "two words", "One two THREE four", "one two three four five",
                   "snake_case and CamelCase 2024 x2", "Größe straße ÉTÉ été naïve café", "Привет мир как дела у вас"]


def test_signatures_equal_the_min_wise_reference():
    rng = random.Random(1997)
    k, bands = 112, 14
    a = [rng.getrandbits(64) | 1 for _ in range(k)]
    b = [rng.getrandbits(64) for _ in range(k)]
    texts = _texts()
    hashes, doc = minhash.shingle_hashes_batch(texts, 5, mode="words")
    sig = minhash.signatures(hashes, doc, len(texts), np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64))
    has = np.zeros(len(texts), dtype=bool)
    has[doc] = True
    for i, text in enumerate(texts):
        ref = sketch(text, a, b)
        assert has[i] == (ref is not None), text[:80]
        if ref is None:
            continue
        assert sig[i].tolist() == ref, f"document {i}: {text[:80]!r}"
        assert minhash.band_hashes(sig[i:i + 1], bands)[0].tolist() == band_keys(ref, bands)


def test_stage_batches_equal_the_reference():
    """The mapInArrow body the stage runs (what Spark executes) gives the reference's band keys."""
    import pyarrow as pa

    from gristmill.stages.dedup.minhash import DedupMinhashConfig, _signature_batches
    cfg = DedupMinhashConfig.model_validate({"threshold": None, "device": "cpu", "shingles": "words"})
    a, b = (x.tolist() for x in minhash.permutations(cfg.num_perm, cfg.seed))
    texts = _texts()
    batch = pa.RecordBatch.from_pydict({"id": [f"d{i:03d}" for i in range(len(texts))], "text": texts})
    got = {}
    for out in _signature_batches(cfg, False, iter([batch])):
        for row in out.to_pylist():
            got.setdefault(row["id"], {})[row["band"]] = row["bucket"]
    for i, text in enumerate(texts):
        ref = sketch(text, a, b)
        keys = got.get(f"d{i:03d}")
        if ref is None:
            assert keys is None
        else:
            assert [keys[j] for j in range(cfg.bands)] == band_keys(ref, cfg.bands), text[:80]
