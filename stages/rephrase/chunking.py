"""Split a document into chunks of at most `max_tokens` tokens of the rephrasing model's tokenizer.

WRAP (Maini et al., 2024, sec. 3) rephrases at most 300 tokens at a time, because longer inputs lost
information in the rephrase. We pack whole paragraphs (lines) greedily up to the limit; a paragraph longer
than the limit is packed sentence by sentence; a sentence longer than the limit is cut at token boundaries
(the only place a chunk can end mid-sentence). Chunks shorter than `min_tokens` are dropped: the last
scrap of a document is not worth a generation.

A chunk is a span of the document, `text[start:end]`, with the document's own line breaks and spaces, so a
synthetic row can point back at the exact text it rephrases (`chunk_start`, `chunk_end`).
"""
from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"[^\n]*\S[^\n]*")  # a non-blank line
# a sentence ends at . ! ? followed by space, or at a CJK full stop / mark
_SENTENCE = re.compile(r".+?(?:[.!?](?=\s)|[。！？]|$)", re.DOTALL)


class TokenCounter:
    """Token counts and token-boundary cuts from a Hugging Face `tokenizer.json` (the `tokenizers` library,
    no model needed)."""

    def __init__(self, tokenizer_json: str | Path):
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(str(tokenizer_json))

    def counts(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def cuts(self, text: str, max_tokens: int) -> list[tuple[int, int]]:
        """Character spans of at most max_tokens tokens each, cut at token boundaries."""
        offsets = self.tok.encode(text, add_special_tokens=False).offsets
        spans = []
        for start in range(0, len(offsets), max_tokens):
            end = offsets[start + max_tokens][0] if start + max_tokens < len(offsets) else len(text)
            spans.append((offsets[start][0], end))
        return spans


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """
    >>> t = "One. Two! Three? Four"
    >>> [t[a:b] for a, b in sentence_spans(t, 0, len(t))]
    ['One.', 'Two!', 'Three?', 'Four']
    """
    out = []
    for m in _SENTENCE.finditer(text, start, end):
        a, b = _strip(text, m.start(), m.end())
        if a < b:
            out.append((a, b))
    return out


def chunk_spans(text: str | None, counter: TokenCounter, max_tokens: int = 300,
                min_tokens: int = 30) -> list[tuple[int, int]]:
    """The (start, end) character spans of one document's chunks, in order."""
    if not text or not text.strip():
        return []
    lines = [_strip(text, m.start(), m.end()) for m in _LINE.finditer(text)]
    units = []  # (start, end, tokens) of pieces no longer than max_tokens, in document order
    for (a, b), n in zip(lines, counter.counts([text[a:b] for a, b in lines])):
        if n <= max_tokens:
            units.append((a, b, n))
            continue
        sents = sentence_spans(text, a, b)
        for (c, d), m in zip(sents, counter.counts([text[c:d] for c, d in sents])):
            if m <= max_tokens:
                units.append((c, d, m))
                continue
            pieces = [(c + x, c + y) for x, y in counter.cuts(text[c:d], max_tokens)]
            pieces = [p for p in (_strip(text, x, y) for x, y in pieces) if p[0] < p[1]]
            units.extend((x, y, k) for (x, y), k in zip(pieces, counter.counts([text[x:y] for x, y in pieces])))
    # greedy packing; a join (the line break or space between units) costs about one token
    out, cur = [], None
    for a, b, n in units:
        if cur and cur[2] + 1 + n <= max_tokens:
            cur = (cur[0], b, cur[2] + 1 + n)
        else:
            if cur:
                out.append(cur)
            cur = (a, b, n)
    if cur:
        out.append(cur)
    return [(a, b) for a, b, n in out if n >= min_tokens]


def chunk_text(text: str | None, counter: TokenCounter, max_tokens: int = 300, min_tokens: int = 30) -> list[str]:
    return [text[a:b] for a, b in chunk_spans(text, counter, max_tokens, min_tokens)]
