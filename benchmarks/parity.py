"""Parity by construction: datatrove tokenizers that split text exactly as gristmill does.

datatrove's MinHash signature step and its Gopher, C4 and FineWeb filters take `language=` as a language
code (English loads spaCy) or a `datatrove.utils.word_tokenizers.WordTokenizer` instance. Handing them the
classes below makes both tools see the same tokens, so a speed row compares the same work:

- `MinhashTokenizer`: the tokens gristmill shingles (`gristmill.stages.dedup.signatures`): `words()` (lower-
  cased `\\w+` runs), or, for a document mostly in a script written without spaces (`uses_chars`, mode
  "auto"), its word characters one by one. Use it with `PARITY_NORM` (every datatrove normalization off:
  `simplify_text` then only strips the ends, which no `\\w+` token sees).
- `QualityTokenizer`: the words gristmill's quality rules count (`gristmill.stages.quality.rules.split_words`:
  words, punctuation runs, one word per no-space-script character) and the sentences C4 counts
  (`gristmill.stages.quality.c4.count_sentences`: an end mark before a space or the line end; text after the
  last mark belongs to the last sentence, so datatrove's `split_into_sentences` finds as many as gristmill).

What stays different is a step, not a tokenization, and the rows say so where it matters: a MinHash
document with 1-4 tokens is one shingle in gristmill and none in datatrove (the speed corpora hold no
such document: `corpora.MIN_WORDS`).

tests/benchmarks/test_parity.py checks token-for-token equality through datatrove's own code paths.
"""
from __future__ import annotations

from datatrove.utils.text import TextNormConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from gristmill.stages.dedup.signatures import uses_chars, words
from gristmill.stages.quality.c4 import _SENTENCE_END
from gristmill.stages.quality.rules import split_words
from gristmill.stages.scripts import word_chars

# datatrove's MinHash normalization switched off: gristmill's shingles normalize in the tokenizer (lower case,
# punctuation and whitespace gone), so datatrove must not fold digits, diacritics or `_` before it
PARITY_NORM = TextNormConfig(lowercase=False, norm_whitespace=False, remove_punctuation=False,
                             norm_unicode_diacritics=False, norm_numbers=False, norm_weekdays=False,
                             norm_monthnames=False)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences as (start, end): each ends after an end mark (and its closing quotes) before a space or the
    text's end; the text after the last mark joins the last sentence. As many spans as
    `count_sentences(text)`.

    >>> sentence_spans("One. Two! Three")
    [(0, 4), (5, 15)]
    >>> sentence_spans("no mark")
    [(0, 7)]
    """
    if not text:
        return []
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
        while start < len(text) and text[start].isspace():
            start += 1
    if not spans:
        return [(0, len(text))]
    spans[-1] = (spans[-1][0], len(text))
    return spans


class QualityTokenizer(WordTokenizer):
    """gristmill's quality words and C4 sentences, for datatrove's Gopher/C4/FineWeb filters."""

    def __init__(self):
        super().__init__("gristmill")

    def word_tokenize(self, text: str) -> list[str]:
        return split_words(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return sentence_spans(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [text[a:b] for a, b in sentence_spans(text)]


class MinhashTokenizer(QualityTokenizer):
    """The tokens gristmill's MinHash shingles, for datatrove's `MinhashDedupSignature` (with `PARITY_NORM`).

    mode: gristmill's `shingles` setting ("auto": characters for no-space scripts; "words"; "chars")."""

    def __init__(self, mode: str = "auto"):
        super().__init__()
        self.mode = mode

    def word_tokenize(self, text: str) -> list[str]:
        if uses_chars(text, self.mode):
            return list(word_chars(text.lower()))
        return words(text)
