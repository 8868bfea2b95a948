"""Heuristic quality rules as plain functions of a document.

Each rule set takes a `Batch` of documents and its thresholds and returns (signals, failing rule or None per
document). Signals are all computed (they become columns); the first failing check in the published order names
the reason. A batch splits its words once; every rule set shares that split, and the per-word work (flags,
counts, n-gram hashing and counting) runs in numpy over the whole batch's tokens, not per document or per word.
Thresholds default to the papers' values (Gopher: Rae et al. 2021, Table A1 and section A.1.1; C4:
Raffel et al. 2020, in `c4.py`, which also removes lines; FineWeb: Penedo et al. 2024).
"""
from __future__ import annotations

import re
from functools import cached_property
from itertools import chain

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
    """One document's text with its splits computed once (C4 and the single-document helpers use it)."""

    def __init__(self, text: str | None):
        self.text = text or ""

    @cached_property
    def words(self) -> list[str]:
        return split_words(self.text)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def nonempty_lines(self) -> list[str]:
        return [line for line in self.text.split("\n") if line.strip()]


_FLAGS: dict[str, tuple[bool, bool]] = {}
_FLAGS_MAX = 500_000  # common words recur across pages; the cache is cleared when it grows past this


def word_flags(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(is a word, i.e. not a symbol; has a letter) for each distinct word, cached across batches."""
    if len(_FLAGS) > _FLAGS_MAX:
        _FLAGS.clear()
    missing = [w for w in words if w not in _FLAGS]
    for w in missing:
        _FLAGS[w] = (not is_symbol(w), _LETTER.search(w) is not None)
    flags = np.array(list(map(_FLAGS.__getitem__, words)), dtype=bool).reshape(len(words), 2)
    return flags[:, 0], flags[:, 1]


class Batch:
    """The texts of a batch with their words split once, as one token array for the whole batch.

    Token i belongs to document `doc[i]`; `gid[i]` is its word's id in `vocab` (the batch's distinct words in
    first-occurrence order). Rule sets count per document with `per_doc` (a bincount), so no Python runs per
    word."""

    def __init__(self, texts: list[str | None], words: list[list[str]] | None = None, before: "Batch | None" = None):
        self.texts = [t or "" for t in texts]
        self._words = words
        self._before = before  # the batch these texts replace: unchanged texts keep its split

    @classmethod
    def of(cls, doc: Doc) -> "Batch":
        return cls([doc.text], [doc.words])

    def with_texts(self, texts: list[str]) -> "Batch":
        """The batch after some texts changed (C4's line removal): only those are split again."""
        return Batch(texts, before=self)

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def words(self) -> list[list[str]]:
        if self._words is not None:
            return self._words
        if self._before is not None:
            old = self._before
            return [w if new == t else split_words(new) for w, new, t in zip(old.words, self.texts, old.texts)]
        return [split_words(t) for t in self.texts]

    @cached_property
    def counts(self) -> np.ndarray:
        """Tokens per document."""
        return np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.texts))

    @cached_property
    def starts(self) -> np.ndarray:
        """Each document's first token (and the total at the end)."""
        return np.concatenate(([0], np.cumsum(self.counts)))

    @cached_property
    def doc(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.texts)), self.counts)

    @cached_property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(dict.fromkeys(chain.from_iterable(self.words)))}

    @cached_property
    def vocab(self) -> list[str]:
        return list(self.index)

    @cached_property
    def gid(self) -> np.ndarray:
        flat = chain.from_iterable(self.words)
        return np.fromiter(map(self.index.__getitem__, flat), dtype=np.int64, count=int(self.starts[-1]))

    @cached_property
    def vocab_lens(self) -> np.ndarray:
        return np.fromiter(map(len, self.vocab), dtype=np.int64, count=len(self.vocab))

    @cached_property
    def lens(self) -> np.ndarray:
        """Characters of each token."""
        return self.vocab_lens[self.gid]

    @cached_property
    def flags(self) -> tuple[np.ndarray, np.ndarray]:
        return word_flags(self.vocab)

    @cached_property
    def ngrams(self) -> "NgramIndex":
        return NgramIndex(self)

    def per_doc(self, per_token: np.ndarray) -> np.ndarray:
        """Sum of a per-token value over each document's tokens."""
        return np.bincount(self.doc, weights=per_token, minlength=len(self.texts))


def first_failure(prefix: str, checks: list[tuple[str, np.ndarray]], n: int) -> list[str | None]:
    """Per document, the first check (in the given order) that failed, as `prefix:name`."""
    reasons: list[str | None] = [None] * n
    for name, failed in reversed(checks):
        for i in np.flatnonzero(failed).tolist():
            reasons[i] = f"{prefix}:{name}"
    return reasons


def one_document(rule_set, doc: Doc, cfg) -> tuple[dict, str | None]:
    """A rule set's signals (floats) and reason for a single document."""
    signals, reasons = rule_set(Batch.of(doc), cfg)
    return {k: float(v[0]) for k, v in signals.items()}, reasons[0]


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


def _line_marks(text: str) -> tuple[int, int, int]:
    """(lines, lines starting with a bullet, lines ending in an ellipsis); a text without the marks skips the scan."""
    lines = text.splitlines() or [""]
    bullets = sum(ln.lstrip().startswith(BULLETS) for ln in lines) if ("-" in text or "•" in text) else 0
    dots = sum(ln.rstrip().endswith(ELLIPSES) for ln in lines) if ("..." in text or "…" in text) else 0
    return len(lines), bullets, dots


def gopher_quality_batch(b: Batch, cfg: GopherQualityConfig) -> tuple[dict, list[str | None]]:
    content, letter = b.flags
    n_content = b.per_doc(content[b.gid])
    content_chars = b.per_doc((content * b.vocab_lens)[b.gid])
    n_tokens = np.maximum(b.counts, 1)
    marks = np.array([(t.count("#"), t.count("...") + t.count("…"), *_line_marks(t)) for t in b.texts],
                     dtype=np.float64).reshape(len(b), 5)
    stops = np.zeros(len(b))
    for g in [b.index[w] for w in set(cfg.stop_words) if w in b.index]:
        stops += np.bincount(b.doc[b.gid == g], minlength=len(b)) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        s = {
            "gopher_word_count": n_content,
            "gopher_mean_word_length": np.where(n_content > 0, content_chars / n_content, 0.0),
            "gopher_hash_ratio": marks[:, 0] / n_tokens,
            "gopher_ellipsis_ratio": marks[:, 1] / n_tokens,
            "gopher_bullet_lines_ratio": marks[:, 3] / marks[:, 2],
            "gopher_ellipsis_lines_ratio": marks[:, 4] / marks[:, 2],
            # Gopher: "80% of words contain an alphabetic character"; punctuation tokens are not words (datatrove
            # divides by its NLTK tokens, punctuation marks included)
            "gopher_alpha_words_ratio": b.per_doc(letter[b.gid])
            / np.maximum(b.counts if cfg.datatrove_compat else n_content, 1),
            "gopher_stop_words": stops,
        }
    off = np.zeros(len(b), dtype=bool)

    def over(key, limit):
        return off if limit is None else s[key] > limit

    def under(key, limit):
        return off if limit is None else s[key] < limit
    checks = [
        ("too_few_words", under("gopher_word_count", cfg.min_words)),
        ("too_many_words", over("gopher_word_count", cfg.max_words)),
        ("mean_word_length", under("gopher_mean_word_length", cfg.min_mean_word_length)),
        ("mean_word_length", over("gopher_mean_word_length", cfg.max_mean_word_length)),
        ("hash_ratio", over("gopher_hash_ratio", cfg.max_symbol_word_ratio)),
        ("ellipsis_ratio", over("gopher_ellipsis_ratio", cfg.max_symbol_word_ratio)),
        ("bullet_lines", over("gopher_bullet_lines_ratio", cfg.max_bullet_lines_ratio)),
        ("ellipsis_lines", over("gopher_ellipsis_lines_ratio", cfg.max_ellipsis_lines_ratio)),
        ("alpha_words", under("gopher_alpha_words_ratio", cfg.min_alpha_words_ratio)),
        ("stop_words", under("gopher_stop_words", cfg.min_stop_words)),
    ]
    return s, first_failure("gopher", checks, len(b))


def gopher_quality(doc: Doc, cfg: GopherQualityConfig) -> tuple[dict, str | None]:
    return one_document(gopher_quality_batch, doc, cfg)


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
    """Word n-grams of every document of a batch as 64-bit hashes, so counting and coverage run in numpy.

    The hash of an n-gram extends the (n-1)-gram's: h = h * M + id (mod 2**64), starting from the document's
    number, so equal n-grams of different documents never meet; a collision needs two different n-grams of
    one document to share 64 bits. An n-gram at token i exists when its n tokens are in i's document."""

    _M = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, b: Batch):
        self.b = b
        self.ids = b.gid.astype(np.uint64) + np.uint64(1)
        self.end = np.repeat(b.starts[1:], b.counts)  # per token: where its document's tokens end
        self.cum = np.concatenate(([0], np.cumsum(b.lens)))
        with np.errstate(over="ignore"):
            self._hashes = {1: (b.doc.astype(np.uint64) + np.uint64(1)) * self._M + self.ids}
        self._repeated: dict[int, np.ndarray] = {}
        self._first: dict[int, np.ndarray] = {}  # per n-gram start: the first occurrence of a repeated n-gram

    def hashes(self, n: int) -> np.ndarray:
        if n not in self._hashes:
            prev = self.hashes(n - 1)
            with np.errstate(over="ignore"):
                self._hashes[n] = prev[:-1] * self._M + self.ids[n - 1:]
            for k in [k for k in self._hashes if 1 < k < n - 1]:
                del self._hashes[k]  # sizes are asked in increasing order: keep the memory of two, not ten
        return self._hashes[n]

    def gram_chars(self, n: int) -> np.ndarray:
        """Characters of the words of each n-gram."""
        return self.cum[n:] - self.cum[:-n]

    def candidates(self, n: int) -> np.ndarray:
        """Starts of the n-grams that can repeat: all of them, or, once the (n-1)-grams are known, only those
        whose first n-1 words repeat (typical pages repeat little, so sizes 3-10 sort almost nothing)."""
        h = self.hashes(n)
        ok = np.arange(len(h)) + n <= self.end[:len(h)]
        prev = self._repeated.get(n - 1)
        if prev is not None:
            ok &= prev[:len(h)]
        return np.flatnonzero(ok)

    def _runs(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(first position, occurrences) of each repeated n-gram; records which positions repeat, for n + 1.
        Sorting is stable, so a run's first entry is the n-gram's first occurrence."""
        h = self.hashes(n)
        pos = self.candidates(n)
        order = pos[np.argsort(h[pos], kind="stable")]
        hs = h[order]
        starts = np.flatnonzero(np.concatenate(([True], hs[1:] != hs[:-1])))
        counts = np.diff(np.append(starts, len(order)))
        mask = np.zeros(len(h), dtype=bool)
        mask[order[np.repeat(counts >= 2, counts)]] = True
        self._repeated[n] = mask
        rep = counts >= 2
        first = np.zeros(len(h), dtype=bool)
        first[order[starts[rep]]] = True
        self._first[n] = first
        return order[starts[rep]], counts[rep]

    def repeated(self, n: int) -> np.ndarray:
        """Per n-gram start: does the same n-gram occur elsewhere in its document."""
        if n not in self._repeated:
            self._runs(n)
        return self._repeated[n]

    def top_char_frac(self, n: int, denominators: np.ndarray, joiner_len: int = 0) -> np.ndarray:
        """Per document: characters covered by its most frequent n-gram (all its occurrences) over its
        denominator. Ties go to the n-gram that occurs first (as `Counter.most_common`), so with nothing
        repeated it is the document's first n-gram."""
        b = self.b
        first, counts = self._runs(n)
        best_pos, best_count = b.starts[:-1].copy(), np.ones(len(b), dtype=np.int64)
        if len(first):
            key = counts * (1 << 40) - first  # more occurrences first, then the earlier n-gram
            best = np.full(len(b), -1, dtype=np.int64)
            np.maximum.at(best, b.doc[first], key)
            has = best > 0
            best_count[has] = (best[has] + (1 << 40) - 1) >> 40
            best_pos[has] = best_count[has] * (1 << 40) - best[has]
        out = np.zeros(len(b))
        ok = (b.counts >= n) & (denominators > 0)
        if ok.any():
            chars = self.gram_chars(n)[best_pos[ok]] + joiner_len * (n - 1)
            out[ok] = chars * best_count[ok] / denominators[ok]
        return out

    def dup_char_frac(self, n: int) -> np.ndarray:
        """Gopher's duplicated n-gram character fraction: characters of words inside any n-gram that occurs
        more than once in its document (every occurrence, overlaps counted once) over the characters of all its
        words."""
        b = self.b
        total = b.per_doc(b.lens)
        out = np.zeros(len(b))
        rep = self.repeated(n)
        if not rep.any():
            return out
        # word j is covered when a duplicated n-gram starts within [j-n+1, j] (one of its own document's: an
        # n-gram of the document before ends before j)
        run = np.concatenate(([0], np.cumsum(rep)))
        j = np.arange(len(b.gid))
        covered = run[np.minimum(j + 1, len(rep))] - run[np.maximum(j - n + 1, 0)] > 0
        ok = (b.counts >= n) & (total > 0)
        out[ok] = b.per_doc(b.lens * covered)[ok] / total[ok]
        return out

    def dup_char_frac_datatrove(self, n: int, text_lens: np.ndarray) -> np.ndarray:
        """datatrove's scan (`find_all_duplicate`), per document: left to right, an n-gram seen before adds its
        characters and the scan jumps n words, otherwise it is remembered and the scan moves one word.

        Only n-grams that occur twice can ever be "seen before", so only those positions matter. Where no jump
        passes over another such position, every one is visited and the hits are exactly the repeats after the
        first occurrence, summed in numpy; documents where a jump does skip one are scanned in order (hashes
        carry the document, so one `seen` set serves them all; a jump never leaves its document)."""
        b = self.b
        out = np.zeros(len(b))
        rep = np.flatnonzero(self.repeated(n))
        if not len(rep):
            return out
        later = ~self._first[n][rep]
        # a later occurrence whose jump (the next n - 1 words) passes over another repeated n-gram's start
        skips = later & (np.append(rep[1:], np.iinfo(np.int64).max) < rep + n)
        scan = np.zeros(len(b), dtype=bool)
        scan[b.doc[rep[skips]]] = True
        simple = later & ~scan[b.doc[rep]]
        totals = np.bincount(b.doc[rep[simple]], weights=self.gram_chars(n)[rep[simple]], minlength=len(b))
        rep = rep[scan[b.doc[rep]]]
        seen: set[int] = set()
        resume = 0
        for pos, h, c, d in zip(rep.tolist(), self.hashes(n)[rep].tolist(), self.gram_chars(n)[rep].tolist(),
                                b.doc[rep].tolist()):
            if pos < resume:
                continue  # inside a repeat the scan jumped over: never looked at, never remembered
            if h in seen:
                totals[d] += c
                resume = pos + n
            else:
                seen.add(h)
        ok = text_lens > 0
        out[ok] = totals[ok] / text_lens[ok]
        return out


def dup_ngram_char_frac(words: list[str], n: int) -> float:
    """
    >>> round(dup_ngram_char_frac("a b c x a b c".split(), 3), 3)
    0.857
    """
    return float(Batch([""], [words]).ngrams.dup_char_frac(n)[0])


def dup_ngram_char_frac_datatrove(words: list[str], n: int, text_len: int) -> float:
    """datatrove's variant: scans left to right, counts a repeated n-gram's characters and jumps past it
    (first occurrences and overlaps are not counted), over the length of the whole text.

    >>> round(dup_ngram_char_frac_datatrove("a b c x a b c".split(), 3, 13), 3)
    0.231
    """
    return float(Batch([""], [words]).ngrams.dup_char_frac_datatrove(n, np.array([text_len]))[0])


def gopher_repetition_batch(b: Batch, cfg: GopherRepetitionConfig) -> tuple[dict, list[str | None]]:
    rows = []
    for text in b.texts:
        paragraphs = _PARAGRAPHS.split(text.strip())
        lines = _LINES.split(text)
        rows.append((*_duplicates(paragraphs), len(paragraphs), *_duplicates(lines), len(lines)))
    r = np.array(rows, dtype=np.float64).reshape(len(b), 6)
    text_lens = np.fromiter(map(len, b.texts), dtype=np.float64, count=len(b))
    n_chars = np.maximum(text_lens, 1)
    s = {
        "gopher_dup_para_frac": r[:, 0] / r[:, 2],
        "gopher_dup_para_char_frac": r[:, 1] / n_chars,
        "gopher_dup_line_frac": r[:, 3] / r[:, 5],
        "gopher_dup_line_char_frac": r[:, 4] / n_chars,
    }
    checks = [(k.removeprefix("gopher_"), getattr(cfg, k.removeprefix("gopher_")), v) for k, v in s.items()]
    index = b.ngrams
    for n, limit in cfg.top_ngrams:
        if cfg.datatrove_compat:
            frac = index.top_char_frac(n, text_lens, joiner_len=1)
        else:
            frac = index.top_char_frac(n, b.per_doc(b.lens))
        s[f"gopher_top_{n}gram_char_frac"] = frac
        checks.append((f"top_{n}gram", limit, frac))
    for n, limit in cfg.dup_ngrams:
        frac = index.dup_char_frac_datatrove(n, text_lens) if cfg.datatrove_compat else index.dup_char_frac(n)
        s[f"gopher_dup_{n}gram_char_frac"] = frac
        checks.append((f"dup_{n}gram", limit, frac))
    off = np.zeros(len(b), dtype=bool)
    return s, first_failure("gopher", [(name, off if limit is None else v > limit) for name, limit, v in checks],
                            len(b))


def gopher_repetition(doc: Doc, cfg: GopherRepetitionConfig) -> tuple[dict, str | None]:
    return one_document(gopher_repetition_batch, doc, cfg)


# -- FineWeb -----------------------------------------------------------------------------------------
class FineWebConfig(Thresholds):
    min_line_punct_ratio: float | None = Field(0.12, ge=0, le=1, description="lines ending in punctuation")
    line_punct_exclude_zero: bool = False
    max_short_line_ratio: float | None = Field(0.67, ge=0, le=1)
    short_line_length: int = Field(30, ge=0)
    max_char_dup_ratio: float | None = Field(0.01, ge=0, le=1, description="characters in repeated lines")
    max_newline_word_ratio: float | None = Field(0.3, ge=0, description="newlines per word (list pages)")


def _fineweb_lines(text: str, short: int) -> tuple[int, int, int, int]:
    """(non-empty lines, ending in punctuation, short, characters in repeated lines)."""
    lines = [line for line in text.split("\n") if line.strip()]
    return (len(lines), sum(ln.endswith(TERMINAL_PUNCTUATION) for ln in lines),
            sum(len(ln) <= short for ln in lines), _duplicates(lines)[1])


def fineweb_batch(b: Batch, cfg: FineWebConfig) -> tuple[dict, list[str | None]]:
    r = np.array([(*_fineweb_lines(t, cfg.short_line_length), t.count("\n"), len(t)) for t in b.texts],
                 dtype=np.float64).reshape(len(b), 6)
    n = np.maximum(r[:, 0], 1)
    s = {
        "fineweb_line_punct_ratio": r[:, 1] / n,
        "fineweb_short_line_ratio": r[:, 2] / n,
        "fineweb_char_dup_ratio": r[:, 3] / np.maximum(r[:, 5] - r[:, 4], 1),
        "fineweb_list_ratio": r[:, 4] / np.maximum(b.counts, 1),
    }
    punct = s["fineweb_line_punct_ratio"]
    off = np.zeros(len(b), dtype=bool)
    low_punct = off if cfg.min_line_punct_ratio is None else punct < cfg.min_line_punct_ratio
    if cfg.line_punct_exclude_zero:
        low_punct = low_punct & (punct != 0)
    checks = [
        ("empty", r[:, 0] == 0),
        ("line_punct_ratio", low_punct),
        ("short_line_ratio", off if cfg.max_short_line_ratio is None
         else s["fineweb_short_line_ratio"] > cfg.max_short_line_ratio),
        ("char_dup_ratio", off if cfg.max_char_dup_ratio is None
         else s["fineweb_char_dup_ratio"] > cfg.max_char_dup_ratio),
        ("list_ratio", off if cfg.max_newline_word_ratio is None
         else s["fineweb_list_ratio"] > cfg.max_newline_word_ratio),
    ]
    return s, first_failure("fineweb", checks, len(b))


def fineweb(doc: Doc, cfg: FineWebConfig) -> tuple[dict, str | None]:
    return one_document(fineweb_batch, doc, cfg)


RULE_SETS = {
    "gopher_repetition": (gopher_repetition_batch, GopherRepetitionConfig),
    "gopher_quality": (gopher_quality_batch, GopherQualityConfig),
    "fineweb": (fineweb_batch, FineWebConfig),
}


# The threshold setting that cuts on each signal: signal -> (rule set, setting that keeps values >= it, setting that
# keeps values <= it). What `gristmill plan-filter` writes for a rule signal. Left out: signals whose setting also
# cuts another signal (max_symbol_word_ratio: hash and ellipsis ratios) and the n-gram lists' entries.
SIGNAL_CUTS = {
    "gopher_word_count": ("gopher_quality", "min_words", "max_words"),
    "gopher_mean_word_length": ("gopher_quality", "min_mean_word_length", "max_mean_word_length"),
    "gopher_bullet_lines_ratio": ("gopher_quality", None, "max_bullet_lines_ratio"),
    "gopher_ellipsis_lines_ratio": ("gopher_quality", None, "max_ellipsis_lines_ratio"),
    "gopher_alpha_words_ratio": ("gopher_quality", "min_alpha_words_ratio", None),
    "gopher_stop_words": ("gopher_quality", "min_stop_words", None),
    **{f"gopher_{k}": ("gopher_repetition", None, k)
       for k in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")},
    "fineweb_line_punct_ratio": ("fineweb", "min_line_punct_ratio", None),
    "fineweb_short_line_ratio": ("fineweb", None, "max_short_line_ratio"),
    "fineweb_char_dup_ratio": ("fineweb", None, "max_char_dup_ratio"),
    "fineweb_list_ratio": ("fineweb", None, "max_newline_word_ratio"),
}


def signal_cut(signal: str, keep_from: float, higher_is_better: bool) -> tuple[str, str, float] | None:
    """(rule set, setting, value) that keeps the documents whose `signal` is at keep_from or better, or None
    when no one setting does. Whole-number settings (word counts) round so that the same whole numbers pass.

    >>> signal_cut("fineweb_line_punct_ratio", 0.3, True)
    ('fineweb', 'min_line_punct_ratio', 0.3)
    >>> signal_cut("gopher_word_count", 80.5, True)
    ('gopher_quality', 'min_words', 81)
    >>> signal_cut("fineweb_line_punct_ratio", 0.3, False) is None
    True
    """
    if signal not in SIGNAL_CUTS:
        return None
    rule_set, at_least, at_most = SIGNAL_CUTS[signal]
    field = at_least if higher_is_better else at_most
    if field is None:
        return None
    model = {"gopher_quality": GopherQualityConfig, "gopher_repetition": GopherRepetitionConfig,
             "fineweb": FineWebConfig}[rule_set]
    whole = model.model_fields[field].annotation == (int | None)
    value = (int(np.ceil(keep_from)) if higher_is_better else int(np.floor(keep_from))) if whole else keep_from
    return rule_set, field, value
