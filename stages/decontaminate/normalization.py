"""The one normalization both sides share: benchmark items when the index is built, documents when matched.

A token is a run of letters and digits (`[^\\W_]+`: punctuation, symbols and whitespace separate tokens and
vanish), lower-cased and NFKC-normalized one token at a time, so a token's position in the original text is
known and a match maps back to characters. GSM8K's calculator annotations (`<<48/2=24>>`) are blanked on
both sides, as a page that copies a solution usually shows it without them. Diacritics are kept.

An n-gram's hash is a polynomial over its tokens' 64-bit xxhash values (wrapping uint64 arithmetic), so the
n-grams of a whole batch of documents come from n vectorised numpy operations; the same function with
n = the item's length gives the hash of an item shorter than n words (a full match).
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import xxhash

TOKEN = re.compile(r"[^\W_]+")
CALCULATOR = re.compile(r"<<[^<>\n]{0,200}>>")
MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: every power is invertible mod 2**64
_CACHE_MAX = 1 << 20


def blank_annotations(text: str) -> str:
    """`<<...>>` calculator annotations become spaces of the same length (offsets stay valid).

    >>> blank_annotations("a <<4/2=2>>2") == "a " + " " * 9 + "2"
    True
    """
    if "<<" not in text:
        return text
    return CALCULATOR.sub(lambda m: " " * len(m.group()), text)


def normalize_token(token: str) -> str:
    """
    >>> normalize_token("Éclair"), normalize_token("ﬁle")
    ('éclair', 'file')
    """
    token = token.lower()
    return token if token.isascii() else unicodedata.normalize("NFKC", token)


def tokens(text: str | None) -> list[str]:
    """Raw tokens (not yet normalized) in text order.

    >>> tokens("Janet's ducks lay 16 eggs_per day!")
    ['Janet', 's', 'ducks', 'lay', '16', 'eggs', 'per', 'day']
    """
    return TOKEN.findall(blank_annotations(text)) if text else []


def token_offsets(text: str) -> list[tuple[int, int]]:
    """Character (start, end) of each token of `tokens(text)`, in the same order."""
    return [m.span() for m in TOKEN.finditer(blank_annotations(text))]


class TokenHasher:
    """Raw token -> uint64 hash of its normalized form, with a bounded per-process cache."""

    def __init__(self):
        self.cache: dict[str, int] = {}

    def __call__(self, toks: list[str]) -> np.ndarray:
        cache = self.cache
        get = cache.get
        out = [get(t) for t in toks]  # the common case: every token seen before, one C-level pass
        if None in out:
            for i, t in enumerate(toks):
                if out[i] is None:
                    h = xxhash.xxh64_intdigest(normalize_token(t))
                    if len(cache) < _CACHE_MAX:
                        cache[t] = h
                    out[i] = h
        return np.array(out, dtype=np.uint64)


def ngram_hashes(token_hashes: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of n consecutive tokens (len - n + 1 values; none when shorter than n).

    >>> h = TokenHasher()(["a", "b", "c", "a", "b"])
    >>> g = ngram_hashes(h, 2)
    >>> len(g), bool(g[0] == g[3]), bool(g[0] == g[1])
    (4, True, False)
    """
    k = len(token_hashes) - n + 1
    if k <= 0:
        return np.empty(0, dtype=np.uint64)
    out = token_hashes[:k].copy()
    for j in range(1, n):
        out *= MULTIPLIER
        out += token_hashes[j:j + k]
    return out
