"""Heuristic quality rules as plain functions of a document.

Each rule set takes a `Doc` and its thresholds and returns (signals, failing rule or None). Signals are
all computed (they become columns); the first failing check in the published order names the reason.
Thresholds default to the papers' values (Gopher: Rae et al. 2021, Table A1 and section A.1.1; C4:
Raffel et al. 2020, in `c4.py`, which also removes lines; FineWeb: Penedo et al. 2024).
"""
from __future__ import annotations

import re
from functools import cached_property

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..scripts import NO_SPACE

# In scripts written without spaces each character counts as a word, so word counts and n-gram
# statistics stay meaningful instead of one "word" per line. [^\W...] is "a word character that is not
# of a no-space script", without a lookahead per character.
_WORDS = re.compile(rf"[{NO_SPACE}]|[^\W{NO_SPACE}]+(?:['’.][^\W{NO_SPACE}]+)*|[^\w\s]+")
_LETTER = re.compile(r"[^\W\d_]")
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
# Sentence-final marks across scripts (Latin, CJK full-width, Arabic, Devanagari, Ethiopic, Armenian, ...).
TERMINAL_PUNCTUATION = tuple(".!?。！？｡؟۔।॥።፧፨։჻။᙮᠃᠉‼‽⁇⁈⁉")
BULLETS = ("•", "-")
ELLIPSES = ("...", "…")
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def split_words(text: str) -> list[str]:
    """Words and punctuation marks; characters of no-space scripts are words of their own.

    >>> split_words("It's 3.5 km—far!")
    ["It's", '3.5', 'km', '—', 'far', '!']
    >>> split_words("我爱 Paris")
    ['我', '爱', 'Paris']
    """
    return _WORDS.findall(text)


def is_symbol(word: str) -> bool:
    """True when a token has no letter or digit (pure punctuation or symbols)."""
    return not (word[:1].isalnum() or any(ch.isalnum() for ch in word))


class Doc:
    """A document's text with its splits computed once and shared by every rule set."""

    def __init__(self, text: str | None):
        self.text = text or ""

    @cached_property
    def words(self) -> list[str]:
        return split_words(self.text)

    @cached_property
    def vocab(self) -> "Vocab":
        return Vocab(self.words)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def nonempty_lines(self) -> list[str]:
        return [line for line in self.text.split("\n") if line.strip()]


_FLAGS: dict[str, tuple[bool, bool]] = {}
_FLAGS_MAX = 500_000  # common words recur across pages; the cache is cleared when it grows past this


def word_flags(words: list[str]) -> tuple[list[bool], list[bool]]:
    """(is a word, i.e. not a symbol; has a letter) for each word, cached across documents."""
    if len(_FLAGS) > _FLAGS_MAX:
        _FLAGS.clear()
    get = _FLAGS.get
    content, letter = [], []
    for w in words:
        f = get(w)
        if f is None:
            f = _FLAGS[w] = (not is_symbol(w), _LETTER.search(w) is not None)
        content.append(f[0])
        letter.append(f[1])
    return content, letter


class Vocab:
    """A document's distinct words, each word's id and how often each occurs: per-word tests run once per
    distinct word and are summed with the counts (pages repeat their words a lot)."""

    def __init__(self, words: list[str]):
        index = dict.fromkeys(words)
        for i, w in enumerate(index):
            index[w] = i
        self.words = list(index)
        self.ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=len(words))
        self.counts = np.bincount(self.ids, minlength=len(self.words))
        self.lens = np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))

    def total(self, flags: list[bool], per_word: np.ndarray | None = None) -> int:
        """Occurrences of the words whose flag is set (each counted as `per_word`, e.g. its length)."""
        if not self.words:
            return 0
        weight = self.counts if per_word is None else self.counts * per_word
        return int(weight[np.array(flags, dtype=bool)].sum())


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated items, their characters), counting every occurrence after the first."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


class Thresholds(BaseModel):
    # strict: a threshold written as a string in YAML is an error, not silently converted
    model_config = ConfigDict(extra="forbid", strict=True)


# -- Gopher quality ----------------------------------------------------------------------------------
class GopherQualityConfig(Thresholds):
    min_words: int | None = Field(50, ge=0)
    max_words: int | None = Field(100_000, ge=0)
    min_mean_word_length: float | None = Field(3.0, ge=0)
    max_mean_word_length: float | None = Field(10.0, ge=0)
    max_symbol_word_ratio: float | None = Field(0.1, ge=0, description="'#' and ellipses per word")
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1)
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1)
    min_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1, description="words with a letter")
    min_stop_words: int | None = Field(2, ge=0)
    stop_words: list[str] = Field(default_factory=lambda: list(GOPHER_STOP_WORDS))
    datatrove_compat: bool = Field(
        False, description="alpha-word ratio as datatrove computes it: over every token, punctuation marks "
                            "included, instead of over words")


def gopher_quality(doc: Doc, cfg: GopherQualityConfig) -> tuple[dict, str | None]:
    v = doc.vocab
    content, letter = word_flags(v.words)
    n_content = v.total(content)
    content_chars = v.total(content, per_word=v.lens)
    n_words = max(len(v.ids), 1)
    lines = doc.lines or [""]
    s = {
        "gopher_word_count": float(n_content),
        "gopher_mean_word_length": content_chars / n_content if n_content else 0.0,
        "gopher_hash_ratio": doc.text.count("#") / n_words,
        "gopher_ellipsis_ratio": (doc.text.count("...") + doc.text.count("…")) / n_words,
        "gopher_bullet_lines_ratio": sum(ln.lstrip().startswith(BULLETS) for ln in lines) / len(lines),
        "gopher_ellipsis_lines_ratio": sum(ln.rstrip().endswith(ELLIPSES) for ln in lines) / len(lines),
        # Gopher: "80% of words contain an alphabetic character"; punctuation tokens are not words (datatrove
        # divides by its NLTK tokens, punctuation marks included)
        "gopher_alpha_words_ratio": v.total(letter)
        / max(len(v.ids) if cfg.datatrove_compat else n_content, 1),
        "gopher_stop_words": float(len(set(cfg.stop_words).intersection(v.words))),
    }
    checks = [
        ("too_few_words", cfg.min_words is not None and s["gopher_word_count"] < cfg.min_words),
        ("too_many_words", cfg.max_words is not None and s["gopher_word_count"] > cfg.max_words),
        ("mean_word_length", cfg.min_mean_word_length is not None
         and s["gopher_mean_word_length"] < cfg.min_mean_word_length),
        ("mean_word_length", cfg.max_mean_word_length is not None
         and s["gopher_mean_word_length"] > cfg.max_mean_word_length),
        ("hash_ratio", cfg.max_symbol_word_ratio is not None and s["gopher_hash_ratio"] > cfg.max_symbol_word_ratio),
        ("ellipsis_ratio", cfg.max_symbol_word_ratio is not None
         and s["gopher_ellipsis_ratio"] > cfg.max_symbol_word_ratio),
        ("bullet_lines", cfg.max_bullet_lines_ratio is not None
         and s["gopher_bullet_lines_ratio"] > cfg.max_bullet_lines_ratio),
        ("ellipsis_lines", cfg.max_ellipsis_lines_ratio is not None
         and s["gopher_ellipsis_lines_ratio"] > cfg.max_ellipsis_lines_ratio),
        ("alpha_words", cfg.min_alpha_words_ratio is not None
         and s["gopher_alpha_words_ratio"] < cfg.min_alpha_words_ratio),
        ("stop_words", cfg.min_stop_words is not None and s["gopher_stop_words"] < cfg.min_stop_words),
    ]
    return s, next((f"gopher:{name}" for name, failed in checks if failed), None)


# -- Gopher repetition -------------------------------------------------------------------------------
class GopherRepetitionConfig(Thresholds):
    dup_para_frac: float | None = Field(0.3, ge=0, le=1)
    dup_para_char_frac: float | None = Field(0.2, ge=0, le=1)
    dup_line_frac: float | None = Field(0.3, ge=0, le=1)
    dup_line_char_frac: float | None = Field(0.2, ge=0, le=1)
    top_ngrams: list[tuple[int, float]] = Field(default_factory=lambda: [(2, 0.2), (3, 0.18), (4, 0.16)])
    dup_ngrams: list[tuple[int, float]] = Field(
        default_factory=lambda: [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)])
    datatrove_compat: bool = Field(
        False, description="n-gram fractions as datatrove computes them instead of the paper's definition")


class NgramIndex:
    """Word n-grams of one document as 64-bit hashes, so counting and coverage run in numpy.

    Words become ids, and the hash of an n-gram extends the (n-1)-gram's: h = h * M + id (mod 2**64);
    a collision needs two different n-grams of the same document to share 64 bits."""

    _M = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, vocab: Vocab):
        self.ids = vocab.ids.astype(np.uint64) + np.uint64(1)
        self.lens = vocab.lens[vocab.ids]
        self.cum = np.concatenate(([0], np.cumsum(self.lens)))
        self._hashes = {1: self.ids}
        self._repeated: dict[int, np.ndarray] = {}

    def hashes(self, n: int) -> np.ndarray:
        if n not in self._hashes:
            prev = self.hashes(n - 1)
            with np.errstate(over="ignore"):
                self._hashes[n] = prev[:-1] * self._M + self.ids[n - 1:]
        return self._hashes[n]

    def gram_chars(self, n: int) -> np.ndarray:
        """Characters of the words of each n-gram."""
        return self.cum[n:] - self.cum[:-n]

    def _sorted_runs(self, n: int, cand: np.ndarray | None = None):
        """Positions (all, or `cand`) sorted stably by n-gram hash, and whether each sorted entry has the
        same hash as the next. Records which n-grams repeat, for the next n."""
        h = self.hashes(n)
        pos = np.arange(len(h)) if cand is None else cand
        order = pos[np.argsort(h[pos], kind="stable")]
        hs = h[order]
        same = hs[1:] == hs[:-1]
        rep = np.zeros(len(hs), dtype=bool)
        rep[1:] |= same
        rep[:-1] |= same
        mask = np.zeros(len(h), dtype=bool)
        mask[order[rep]] = True
        self._repeated[n] = mask
        return order, same

    def repeated(self, n: int) -> np.ndarray:
        """Per n-gram start: does the same n-gram occur elsewhere in the document.

        An n-gram can only repeat where its first n-1 words repeat, so once a shorter size is known only
        those positions are sorted (typical pages repeat little, so sizes 6-10 cost almost nothing)."""
        if n not in self._repeated:
            prev = self._repeated.get(n - 1)
            cand = None if prev is None else np.flatnonzero(prev[:len(self.hashes(n))])
            self._sorted_runs(n, cand)
        return self._repeated[n]

    def top_char_frac(self, n: int, denominator: int, joiner_len: int = 0) -> float:
        """Characters covered by the most frequent n-gram (all its occurrences) over `denominator`."""
        if len(self.ids) < n or denominator == 0:
            return 0.0
        prev = self._repeated.get(n - 1)
        cand = None if prev is None else np.flatnonzero(prev[:len(self.hashes(n))])
        # stable: a run's first entry is the n-gram's first occurrence. Only n-grams whose first n-1 words
        # repeat can repeat, so with those known only they are sorted; the winner is the same
        order, same = self._sorted_runs(n, cand)
        if cand is not None and not same.any():
            # nothing repeats: the full sort's winner is its first entry, the smallest hash's first position
            pos = int(np.argmin(self.hashes(n)))
            return (int(self.gram_chars(n)[pos]) + joiner_len * (n - 1)) / denominator
        starts = np.flatnonzero(~same) + 1
        counts = np.diff(starts, prepend=0, append=len(order))
        starts = np.concatenate(([0], starts))
        best = int(np.argmax(counts))
        chars = int(self.gram_chars(n)[order[starts[best]]]) + joiner_len * (n - 1)
        return chars * int(counts[best]) / denominator

    def dup_char_frac(self, n: int) -> float:
        """Gopher's duplicated n-gram character fraction: characters of words inside any n-gram that occurs
        more than once (every occurrence, overlaps counted once) over the characters of all words."""
        total = int(self.cum[-1])
        if len(self.ids) < n or total == 0:
            return 0.0
        rep = self.repeated(n)
        if not rep.any():
            return 0.0
        starts = rep.astype(np.int64)
        # word j is covered when a duplicated n-gram starts within [j-n+1, j]
        run = np.concatenate(([0], np.cumsum(starts)))
        j = np.arange(len(self.ids))
        covered = run[np.minimum(j + 1, len(starts))] - run[np.maximum(j - n + 1, 0)] > 0
        return int(self.lens[covered].sum()) / total

    def dup_char_frac_datatrove(self, n: int, text_len: int) -> float:
        """datatrove's scan (`find_all_duplicate`): left to right, an n-gram seen before adds its characters
        and the scan jumps n words, otherwise it is remembered and the scan moves one word. Only n-grams
        that occur twice can ever be "seen before", so the scan visits just those positions."""
        if len(self.ids) < n or not text_len:
            return 0.0
        rep = np.flatnonzero(self.repeated(n))
        if not len(rep):
            return 0.0
        hashes = self.hashes(n)[rep].tolist()
        chars = self.gram_chars(n)[rep].tolist()
        seen: set[int] = set()
        total, resume = 0, 0
        for pos, h, c in zip(rep.tolist(), hashes, chars):
            if pos < resume:
                continue  # inside a repeat the scan jumped over: never looked at, never remembered
            if h in seen:
                total += c
                resume = pos + n
            else:
                seen.add(h)
        return total / text_len


def dup_ngram_char_frac(words: list[str], n: int) -> float:
    """
    >>> round(dup_ngram_char_frac("a b c x a b c".split(), 3), 3)
    0.857
    """
    return NgramIndex(Vocab(words)).dup_char_frac(n)


def dup_ngram_char_frac_datatrove(words: list[str], n: int, text_len: int) -> float:
    """datatrove's variant: scans left to right, counts a repeated n-gram's characters and jumps past it
    (first occurrences and overlaps are not counted), over the length of the whole text.

    >>> round(dup_ngram_char_frac_datatrove("a b c x a b c".split(), 3, 13), 3)
    0.231
    """
    return NgramIndex(Vocab(words)).dup_char_frac_datatrove(n, text_len)


def gopher_repetition(doc: Doc, cfg: GopherRepetitionConfig) -> tuple[dict, str | None]:
    text = doc.text
    n_chars = max(len(text), 1)
    paragraphs = _PARAGRAPHS.split(text.strip())
    lines = _LINES.split(text)
    para_dups, para_chars = _duplicates(paragraphs)
    line_dups, line_chars = _duplicates(lines)
    s = {
        "gopher_dup_para_frac": para_dups / len(paragraphs),
        "gopher_dup_para_char_frac": para_chars / n_chars,
        "gopher_dup_line_frac": line_dups / len(lines),
        "gopher_dup_line_char_frac": line_chars / n_chars,
    }
    checks = [(k.removeprefix("gopher_"), getattr(cfg, k.removeprefix("gopher_")), v) for k, v in s.items()]
    index = NgramIndex(doc.vocab)
    for n, limit in cfg.top_ngrams:
        if cfg.datatrove_compat:
            frac = index.top_char_frac(n, len(text), joiner_len=1)
        else:
            frac = index.top_char_frac(n, int(index.cum[-1]))
        s[f"gopher_top_{n}gram_char_frac"] = frac
        checks.append((f"top_{n}gram", limit, frac))
    for n, limit in cfg.dup_ngrams:
        if cfg.datatrove_compat:
            frac = index.dup_char_frac_datatrove(n, len(text))
        else:
            frac = index.dup_char_frac(n)
        s[f"gopher_dup_{n}gram_char_frac"] = frac
        checks.append((f"dup_{n}gram", limit, frac))
    return s, next((f"gopher:{name}" for name, limit, v in checks if limit is not None and v > limit), None)


# -- FineWeb -----------------------------------------------------------------------------------------
class FineWebConfig(Thresholds):
    min_line_punct_ratio: float | None = Field(0.12, ge=0, le=1, description="lines ending in punctuation")
    line_punct_exclude_zero: bool = False
    max_short_line_ratio: float | None = Field(0.67, ge=0, le=1)
    short_line_length: int = Field(30, ge=0)
    max_char_dup_ratio: float | None = Field(0.01, ge=0, le=1, description="characters in repeated lines")
    max_newline_word_ratio: float | None = Field(0.3, ge=0, description="newlines per word (list pages)")


def fineweb(doc: Doc, cfg: FineWebConfig) -> tuple[dict, str | None]:
    lines = doc.nonempty_lines
    n = max(len(lines), 1)
    body_chars = max(len(doc.text) - doc.text.count("\n"), 1)
    s = {
        "fineweb_line_punct_ratio": sum(ln.endswith(TERMINAL_PUNCTUATION) for ln in lines) / n,
        "fineweb_short_line_ratio": sum(len(ln) <= cfg.short_line_length for ln in lines) / n,
        "fineweb_char_dup_ratio": _duplicates(lines)[1] / body_chars,
        "fineweb_list_ratio": doc.text.count("\n") / max(len(doc.words), 1),
    }
    punct = s["fineweb_line_punct_ratio"]
    checks = [
        ("empty", not lines),
        ("line_punct_ratio", cfg.min_line_punct_ratio is not None and punct < cfg.min_line_punct_ratio
         and not (punct == 0 and cfg.line_punct_exclude_zero)),
        ("short_line_ratio", cfg.max_short_line_ratio is not None
         and s["fineweb_short_line_ratio"] > cfg.max_short_line_ratio),
        ("char_dup_ratio", cfg.max_char_dup_ratio is not None and s["fineweb_char_dup_ratio"] > cfg.max_char_dup_ratio),
        ("list_ratio", cfg.max_newline_word_ratio is not None and s["fineweb_list_ratio"] > cfg.max_newline_word_ratio),
    ]
    return s, next((f"fineweb:{name}" for name, failed in checks if failed), None)


RULE_SETS = {
    "gopher_repetition": (gopher_repetition, GopherRepetitionConfig),
    "gopher_quality": (gopher_quality, GopherQualityConfig),
    "fineweb": (fineweb, FineWebConfig),
}
