r"""MinHash maths as pure functions over NumPy arrays: shingles, signatures, LSH bands.

Shingles (Broder 1997, "On the resemblance and containment of documents") are n-grams of tokens of
normalized text (lower-cased; punctuation and whitespace differences do not matter). The token depends on
the script, chosen per document (`mode="auto"`):

- words (runs of letters/digits) for scripts that separate words with spaces: `n` words per shingle;
- characters for scripts without word spaces (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan: half or more
  of the document's word characters, see `stages/scripts.py`): `char_n` characters per shingle, spaces
  and punctuation removed. With `\w+` a Chinese clause is one "word", so a one-character edit changed
  every shingle; with character 5-grams it changes five.

`mode="words"` or `"chars"` forces one tokenization for every document. Words are hashed for a whole batch
at once in NumPy (`word_token_hashes`), each character from its code point; n-gram hashes are combined from the
token hashes with vectorized arithmetic, so the per-shingle work never touches Python objects.

Rule for short documents: a document with fewer than `n` tokens (but at least one) becomes one
shingle made of all its tokens, so two identical short documents still match. A document with no
tokens has no shingles and no signature; it never joins a cluster.

Permutations are multiply-add-shift hashes of the 32-bit shingle hash x (Dietzfelbinger 1996):
h(x) = ((a*x + b) mod 2**64) >> 32 with random 64-bit a and b, a strongly universal family from 32 to
32 bits. Wrapping uint64 arithmetic vectorizes (a prime modulus made NumPy ~4x slower), and the torch
path's wrapping int64 arithmetic gives bit-identical results.
"""
from __future__ import annotations

import re

import numpy as np
import xxhash

from ..scripts import code_points, has_no_space_chars, in_no_space_blocks, word_chars

EMPTY = np.uint32(0xFFFFFFFF)  # signature value of a document without shingles (callers mask those rows)
_SHIFT = np.uint64(32)
_WORD = re.compile(r"\w+")
_M64 = (1 << 64) - 1
# odd multipliers per n-gram position, so "a b" and "b a" hash differently
_POS = np.array([(0x9E3779B97F4A7C15 * (2 * k + 1)) & _M64 for k in range(64)], dtype=np.uint64)
_CHAR_SALT = np.uint64(0x5851F42D4C957F2D)  # keeps a character's hash apart from a word's
CHUNK = 8192  # shingles per (num_perm x chunk) matrix: ~7 MB of uint64 at 112 permutations
CHAR_SHARE = 0.5  # documents with at least this share of no-space-script characters get character shingles
MODES = ("auto", "words", "chars")


def words(text: str | None) -> list[str]:
    """
    >>> words("Hello, WORLD!  it's 2024")
    ['hello', 'world', 'it', 's', '2024']
    >>> words(None)
    []
    """
    return _WORD.findall(text.lower()) if text else []


def uses_chars(text: str | None, mode: str = "auto") -> bool:
    """Whether a document is shingled by characters.

    >>> uses_chars("人人生而自由,在尊严和权利上一律平等。"), uses_chars("All human beings are born free.")
    (True, False)
    """
    if mode not in MODES:
        raise ValueError(f"shingles must be one of {MODES}, got {mode!r}")
    if not text or mode == "words":
        return False
    if mode == "chars":
        return True
    if not has_no_space_chars(text):
        return False
    cps = code_points(word_chars(text))
    return bool(len(cps)) and float(in_no_space_blocks(cps).mean()) >= CHAR_SHARE


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads bits so the low 32 bits are as good as the high ones."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(27))
        h = h * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def _char_token_hashes(text: str) -> np.ndarray:
    return _mix64(code_points(word_chars(text.lower())).astype(np.uint64) ^ _CHAR_SALT)


_P = 0x100000001B3 * 2 + 1  # odd, so it has an inverse modulo 2**64
_P_INV = pow(_P, -1, 1 << 64)
_LEN_SALT = np.uint64(0xD6E8FEB86659FD93)
_SPAN = 1 << 20  # code points per hashing group: keeps the power tables and prefix sums near 8 MB
_tables: dict = {}


_BMP = 0x10000


def _is_word_table(top: int = 0x10FFFF) -> np.ndarray:
    """Per code point up to at least `top`, whether Python's `\\w` matches it (str.isalnum() or '_'), as sre
    defines it. Built for the Basic Multilingual Plane first (a twentieth of the work, enough for almost all
    text), then for every code point once a batch holds one above it: a Python worker starts faster."""
    size = _BMP if top < _BMP else 0x110000
    if len(_tables.get("word", ())) < size:
        table = np.zeros(size, dtype=bool)
        for m in _WORD.finditer("".join(map(chr, range(size)))):
            table[m.start():m.end()] = True
        _tables["word"] = table
    return _tables["word"]


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Powers 0..n-1 (at least 2 * _SPAN) of _P and of its inverse modulo 2**64, by doubling: each step
    multiplies the block so far by the next power, so the work is vectorized (an ufunc accumulate is not)."""
    if len(_tables.get("pow", ())) < n:
        n = max(n, _SPAN * 2)
        with np.errstate(over="ignore"):
            out = []
            for base in (_P, _P_INV):
                p = np.ones(n, dtype=np.uint64)
                size, step = 1, np.uint64(base)
                while size < n:
                    m = min(size, n - size)
                    np.multiply(p[:m], step, out=p[size:size + m])
                    size += m
                    step = step * step
                out.append(p)
        _tables["pow"], _tables["inv"] = out
    return _tables["pow"], _tables["inv"]


def word_token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the words (`words()`'s tokens) of many documents at once, and each document's word
    count. The batch is one array of code points; a word's hash is the polynomial sum of its code points
    (position-free: prefix sums weighted by powers of the inverse base, rescaled by the word's start)
    with its length mixed in, then splitmix64. No Python object per word, so this is ~10x the per-word
    xxh3 loop it replaced; collisions are as rare as for any 64-bit hash on non-adversarial text.

    >>> h, n = word_token_hashes(["The cat, the CAT", "", "cat"])
    >>> n.tolist(), bool(h[0] == h[2]), bool(h[1] == h[3] == h[4]), bool(h[0] != h[1])
    ([4, 0, 1], True, True, True)
    """
    lowered = [t.lower() for t in texts]
    cps = np.frombuffer("\x00".join(lowered).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    is_word = np.zeros(len(cps) + 2, dtype=bool)
    is_word[1:-1] = _is_word_table(int(cps.max()) if len(cps) else 0)[cps]
    edge = np.flatnonzero(is_word[1:] != is_word[:-1])
    starts, ends = edge[0::2], edge[1::2]
    bounds = np.cumsum([0] + [len(t) + 1 for t in lowered])  # each document's first code point, then the end
    counts = np.diff(np.searchsorted(starts, bounds))
    out = np.empty(len(starts), dtype=np.uint64)
    # a word longer than a group (a base64 blob, minified code) is hashed on its own, so the power tables and
    # prefix sums stay near _SPAN entries whatever the input
    huge = np.flatnonzero(ends - starts > _SPAN)
    for i in huge:
        word = cps[starts[i]:ends[i]].tobytes().decode("utf-32-le", "surrogatepass")
        out[i] = _mix64(np.array([xxhash.xxh3_64_intdigest(word.encode("utf-8", "surrogatepass"))],
                                 dtype=np.uint64))[0]
    rest = np.setdiff1d(np.arange(len(starts)), huge) if len(huge) else np.arange(len(starts))
    if not len(rest):
        return out, counts.astype(np.int64)
    group = starts[rest] // _SPAN
    cut = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    with np.errstate(over="ignore"):
        for g0, g1 in zip(cut[:-1], cut[1:]):
            idx = rest[g0:g1]
            lo, hi = int(starts[idx[0]]), int(ends[idx[-1]])
            pw, inv = _powers(hi - lo + 1)
            x = cps[lo:hi].astype(np.uint64) * inv[:hi - lo]
            prefix = np.zeros(hi - lo + 1, dtype=np.uint64)
            np.cumsum(x, dtype=np.uint64, out=prefix[1:])
            s_, e = starts[idx] - lo, ends[idx] - lo
            raw = (prefix[e] - prefix[s_]) * pw[s_]
            out[idx] = _mix64(raw ^ ((e - s_).astype(np.uint64) * _LEN_SALT))
    return out, counts.astype(np.int64)


def shingle_hashes_batch(texts: list[str | None], n: int = 5, mode: str = "auto",
                         char_n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """32-bit shingle hashes of many documents, concatenated, and the document index of each.

    >>> h, doc = shingle_hashes_batch(["a b c d e f", "", "short doc"], n=5)
    >>> len(h), doc.tolist()
    (3, [0, 0, 2])
    >>> bool(h.max() < 2**32)
    True
    >>> shingle_hashes_batch(["人人生而自由"], n=5)[1].tolist()  # 6 characters: two 5-grams
    [0, 0]
    """
    for name, v in (("ngram", n), ("char_ngram", char_n)):
        if not 1 <= v <= len(_POS):
            raise ValueError(f"{name} must be between 1 and {len(_POS)}, got {v}")
    by_chars = [uses_chars(t, mode) for t in texts]
    flat, lens = word_token_hashes(["" if (c or not t) else t for t, c in zip(texts, by_chars)])
    if any(by_chars):
        toks = np.split(flat, np.cumsum(lens)[:-1])
        for i in np.flatnonzero(by_chars):
            toks[i] = _char_token_hashes(texts[i])
        lens = np.fromiter((len(w) for w in toks), dtype=np.int64, count=len(toks))
        flat = np.concatenate(toks)
    ns = np.where(np.array(by_chars, dtype=bool), char_n, n).astype(np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    width = int(ns.max()) if len(ns) else n
    # zero padding at the end lets short documents reuse the same window sum (their tail tokens are 0)
    padded = np.concatenate([flat.astype(np.uint64), np.zeros(width, dtype=np.uint64)])
    counts = np.where(lens >= ns, lens - ns + 1, np.where(lens > 0, 1, 0))
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    starts = np.repeat(offs, counts) + (np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts))
    acc = np.zeros(len(starts), dtype=np.uint64)
    span = np.minimum(lens, ns)[doc]  # tokens in each shingle
    with np.errstate(over="ignore"):
        for k in range(width):
            w = padded[starts + k]
            cut = k >= span  # past a short document's end, or past a word document's n < width
            if cut.any():
                w = np.where(cut, np.uint64(0), w)
            acc += w * _POS[k]
    return _mix64(acc) & np.uint64(0xFFFFFFFF), doc


def shingle_set(text: str | None, n: int = 5, mode: str = "auto", char_n: int = 5) -> set[int]:
    """Distinct shingle hashes of one document (for exact Jaccard in tests and benchmarks).

    >>> len(shingle_set("the cat sat on the mat today", 5))
    3
    """
    return set(shingle_hashes_batch([text], n, mode, char_n)[0].tolist())


def jaccard(a: set, b: set) -> float:
    """
    >>> jaccard({1, 2, 3}, {2, 3, 4})
    0.5
    >>> jaccard(set(), set())
    0.0
    """
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def permutations(num_perm: int, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of each permutation; the same seed gives the same signatures on every worker.

    >>> a, b = permutations(4, seed=1)
    >>> a.dtype.name, bool((a % 2 == 1).all())
    ('uint64', True)
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True)
    return a, b


def signatures(hashes: np.ndarray, doc: np.ndarray, n_docs: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signatures (n_docs x num_perm, uint32); rows of documents without shingles are EMPTY.

    >>> a, b = permutations(8)
    >>> h, d = shingle_hashes_batch(["one two three four five six", "one two three four five six", "x"], 5)
    >>> s = signatures(h, d, 3, a, b)
    >>> bool((s[0] == s[1]).all()), bool((s[0] != s[2]).any())
    (True, True)
    """
    # permutations x shingles: the reduction then runs along contiguous rows
    sig = np.full((len(a), n_docs), EMPTY, dtype=np.uint32)
    for lo in range(0, len(hashes), CHUNK):
        x = hashes[lo:lo + CHUNK]
        d = doc[lo:lo + CHUNK]
        with np.errstate(over="ignore"):
            hv = a[:, None] * x[None, :]  # in place from here: the matrix is the big allocation
            hv += b[:, None]
            hv >>= _SHIFT
        seg = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        # reduced before the cast: the values already fit 32 bits, and the cast then touches one column per doc
        red = np.minimum.reduceat(hv, seg, axis=1).astype(np.uint32)
        rows = d[seg]
        sig[:, rows] = np.minimum(sig[:, rows], red)  # a document may span two chunks
    return np.ascontiguousarray(sig.T)


def signatures_torch(hashes: np.ndarray, doc: np.ndarray, n_docs: int, a: np.ndarray, b: np.ndarray,
                     device: str = "cuda") -> np.ndarray:
    """Same result as signatures(), computed with torch (for CUDA). torch has no uint64, but int64
    multiplication and addition wrap with the same bits; the arithmetic shift's sign bits are masked off.
    """
    import torch
    empty = 1 << 32  # above every 32-bit value, so amin ignores it
    ta = torch.as_tensor(a.view(np.int64), device=device)[None, :]
    tb = torch.as_tensor(b.view(np.int64), device=device)[None, :]
    sig = torch.full((n_docs, len(a)), empty, dtype=torch.int64, device=device)
    step = CHUNK * 8 if device != "cpu" else CHUNK
    for lo in range(0, len(hashes), step):
        x = torch.as_tensor(hashes[lo:lo + step].astype(np.int64), device=device)[:, None]
        d = torch.as_tensor(doc[lo:lo + step], device=device)
        hv = ((ta * x + tb) >> 32) & 0xFFFFFFFF
        sig.scatter_reduce_(0, d[:, None].expand(-1, len(a)), hv, reduce="amin", include_self=True)
    out = sig.cpu().numpy()
    out[out == empty] = int(EMPTY)
    return out.astype(np.uint32)


def band_hashes(sig: np.ndarray, bands: int) -> np.ndarray:
    """One signed 64-bit bucket key per (document, band): n_docs x bands, int64 (Spark's long).

    >>> s = np.arange(16, dtype=np.uint32).reshape(2, 8)
    >>> band_hashes(s, 2).shape
    (2, 2)
    >>> bool((band_hashes(s, 2) == band_hashes(s.copy(), 2)).all())
    True
    """
    n_docs, num_perm = sig.shape
    if num_perm % bands:
        raise ValueError(f"num_perm {num_perm} is not a multiple of bands {bands}")
    rows = sig.reshape(n_docs, bands, num_perm // bands).astype(np.uint64)
    h = np.full((n_docs, bands), 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows.shape[2]):
            h = (h ^ rows[:, :, r]) * np.uint64(0x100000001B3)  # FNV-1a step over 32-bit values
    return _mix64(h).view(np.int64)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal signature positions.

    >>> estimate_jaccard(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 0]))
    0.5
    """
    return float(np.mean(sig_a == sig_b))


def lsh_threshold(bands: int, rows: int) -> float:
    """Jaccard at which a pair becomes a candidate with probability about one half.

    >>> round(lsh_threshold(14, 8), 3)
    0.719
    """
    return (1.0 / bands) ** (1.0 / rows)
