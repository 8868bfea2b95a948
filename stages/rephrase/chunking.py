"""Split a document into chunks of at most `max_tokens` tokens of the rephrasing model's tokenizer.

WRAP (Maini et al., 2024, sec. 3) rephrases at most 300 tokens at a time, because longer inputs lost
information in the rephrase. We pack whole paragraphs (lines) greedily up to the limit; a paragraph longer
than the limit is packed sentence by sentence; a sentence longer than the limit is cut at token boundaries
(the only place a chunk can end mid-sentence). Chunks shorter than `min_tokens` are dropped: the last
scrap of a document is not worth a generation.
"""
from __future__ import annotations

import re
from pathlib import Path

_PARAGRAPHS = re.compile(r"\n\s*")
# a sentence ends at . ! ? (and their CJK forms) followed by space, or at the CJK forms alone
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


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

    def cut(self, text: str, max_tokens: int) -> list[str]:
        """Pieces of at most max_tokens tokens each, cut at token boundaries."""
        offsets = self.tok.encode(text, add_special_tokens=False).offsets
        pieces = []
        for start in range(0, len(offsets), max_tokens):
            group = offsets[start:start + max_tokens]
            end = offsets[start + max_tokens][0] if start + max_tokens < len(offsets) else len(text)
            pieces.append(text[group[0][0]:end].strip())
        return [p for p in pieces if p]


def split_sentences(paragraph: str) -> list[str]:
    """
    >>> split_sentences("One. Two! Three? Four")
    ['One.', 'Two!', 'Three?', 'Four']
    """
    return [s for s in (p.strip() for p in _SENTENCE_END.split(paragraph)) if s]


def _pack(units: list[tuple[str, int, str]], max_tokens: int) -> list[tuple[str, int]]:
    """Greedy packing of (piece, tokens, separator before it) in order; each piece is <= max_tokens and a
    join costs one token."""
    out, cur, cur_n = [], "", 0
    for piece, n, sep in units:
        if cur and cur_n + 1 + n > max_tokens:
            out.append((cur, cur_n))
            cur, cur_n = "", 0
        cur, cur_n = (cur + sep + piece, cur_n + 1 + n) if cur else (piece, n)
    if cur:
        out.append((cur, cur_n))
    return out


def chunk_text(text: str | None, counter: TokenCounter, max_tokens: int = 300,
               min_tokens: int = 30) -> list[str]:
    """The chunks of one document, in order."""
    if not text or not text.strip():
        return []
    paragraphs = [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]
    sizes = counter.counts(paragraphs)
    units = []  # (piece <= max_tokens, its tokens, separator before it), in document order
    for para, n in zip(paragraphs, sizes):
        if n <= max_tokens:
            units.append((para, n, "\n"))
            continue
        first = True  # the paragraph's first piece starts a new line, the rest continue it with a space
        sentences = split_sentences(para)
        for sent, m in zip(sentences, counter.counts(sentences)):
            pieces = [sent] if m <= max_tokens else counter.cut(sent, max_tokens)
            for piece, k in zip(pieces, [m] if m <= max_tokens else counter.counts(pieces)):
                units.append((piece, k, "\n" if first else " "))
                first = False
    return [chunk for chunk, n in _pack(units, max_tokens) if n >= min_tokens]
