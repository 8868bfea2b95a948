"""Writing systems that put no spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan).

Word-based statistics must treat these differently: the quality rules count each character as a word,
and MinHash shingles them as character n-grams instead of word n-grams.
"""
from __future__ import annotations

import re

import numpy as np

# (first, last) code points of each no-space block
_BLOCKS = [(0x0E00, 0x0EFF),  # Thai, Lao
           (0x0F00, 0x0FFF),  # Tibetan
           (0x1000, 0x109F),  # Myanmar
           (0x1780, 0x17FF),  # Khmer
           (0x3040, 0x30FF),  # hiragana, katakana
           (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F)]  # Han
NO_SPACE = "".join(f"{chr(a)}-{chr(b)}" for a, b in _BLOCKS)  # for regex character classes
_LO = np.array([a for a, _ in _BLOCKS], dtype=np.uint32)
_HI = np.array([b for _, b in _BLOCKS], dtype=np.uint32)
# \w misses combining marks (Thai vowel signs are category Mn): the no-space blocks are kept whole
_NOT_WORD = re.compile(rf"[^\w{NO_SPACE}]+")
_ANY_NO_SPACE = re.compile(f"[{NO_SPACE}]")


def has_no_space_chars(text: str) -> bool:
    """Whether any character belongs to a no-space script: one C-level scan, so the usual document (none)
    skips the per-character share computation.

    >>> has_no_space_chars("naïve café"), has_no_space_chars("東京 tower")
    (False, True)
    """
    return not text.isascii() and _ANY_NO_SPACE.search(text) is not None


def word_chars(text: str) -> str:
    """The characters that make up words, in order: letters, digits, and every character of the
    no-space blocks (their combining vowel signs included); spaces and punctuation go.

    >>> word_chars("ภาษา ไทย, ok")
    'ภาษาไทยok'
    """
    return _NOT_WORD.sub("", text)


def code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def in_no_space_blocks(cps: np.ndarray) -> np.ndarray:
    """Per code point: does it belong to a no-space script."""
    block = np.searchsorted(_LO, cps, side="right") - 1
    return (block >= 0) & (cps <= _HI[np.maximum(block, 0)])


def no_space_share(text: str) -> float:
    """Share of the word characters that belong to a no-space script.

    >>> no_space_share("我爱 Paris")
    0.2857142857142857
    >>> no_space_share("")
    0.0
    """
    if not has_no_space_chars(text):
        return 0.0
    cps = code_points(word_chars(text))
    return float(in_no_space_blocks(cps).mean()) if len(cps) else 0.0
