"""Writing systems that put no spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan).

Word-based statistics must treat these differently: the quality rules count each character as a word,
and MinHash shingles them as character n-grams instead of word n-grams.
"""
from __future__ import annotations

import re

NO_SPACE = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u0f00-\u0fff"  # Thai, Lao, Myanmar, Khmer, Tibetan
            "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f")  # kana, Han
_NO_SPACE_CHAR = re.compile(f"[{NO_SPACE}]")
# \w misses combining marks (Thai vowel signs are category Mn): the no-space blocks count whole
_WORD_CHAR = re.compile(rf"[{NO_SPACE}]|\w")


def word_chars(text: str) -> list[str]:
    """The characters that make up words, in order: letters, digits, and every character of the
    no-space blocks (their combining vowel signs included); spaces and punctuation go.

    >>> word_chars("ภาษา ไทย, ok")
    ['ภ', 'า', 'ษ', 'า', 'ไ', 'ท', 'ย', 'o', 'k']
    """
    return _WORD_CHAR.findall(text)


def no_space_share(text: str) -> float:
    """Share of the word characters that belong to a no-space script.

    >>> no_space_share("我爱 Paris")
    0.2857142857142857
    >>> no_space_share("")
    0.0
    """
    word_chars = len(_WORD_CHAR.findall(text))
    return len(_NO_SPACE_CHAR.findall(text)) / word_chars if word_chars else 0.0
