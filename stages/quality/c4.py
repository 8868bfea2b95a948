"""C4's cleaning rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
Text-to-Text Transformer", section 2.2), as the TFDS reference code (`tensorflow_datasets/text/c4_utils.py`,
`clean_page`) applies them.

C4 is mostly a *line* filter. Each line is stripped, then, in this order:

1. a line with a word longer than `max_word_length` (1000) characters is removed;
2. citation markers (`[1]`, `[edit]`, `[citation needed]`) are cut out of the line;
3. a line that does not end in a terminal mark (`.` `?` `!` `"`) or ends in `...` is removed;
4. a line with fewer than `min_words_per_line` (5) whitespace-separated words is removed;
5. a line with "lorem ipsum" drops the whole page;
6. a line with "javascript" is removed;
7. a line with a curly bracket `{` drops the whole page;
8. a line with a policy phrase ("terms of use", "cookie policy", ...) is removed.

The page is then dropped when the kept lines hold fewer than `min_sentences` (3) sentences (or, with that
rule off, when no line is left), and otherwise its text becomes the kept lines joined by newlines. The TFDS values are the default (`preset: tfds`);
`preset: datatrove` gives datatrove's `C4QualityFilter` values (5 sentences, 3 words per line, `'` also an
end mark). Any single value can still be set beside the preset.

Where we differ, on purpose: TFDS counts sentences with NLTK's punkt model (a download); we count end marks
(`. ! ?` and their CJK/Arabic/Indic forms before a space or the line end), at least one per kept line.
The bad-words page filter of the paper is not here (the url_filter stage takes word lists).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field, model_validator

from .rules import Doc, Thresholds

_SENTENCE_END = re.compile(r"[.!?。！？։؟।॥።][\"'”’»)\]]*(?=\s|$)")
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                  "use cookies")
ELLIPSIS = "..."
PRESETS = {
    "tfds": {"min_sentences": 3, "min_words_per_line": 5, "end_marks": [".", "?", "!", '"']},
    "datatrove": {"min_sentences": 5, "min_words_per_line": 3, "end_marks": [".", "?", "!", '"', "'"]},
}


class C4Config(Thresholds):
    preset: Literal["tfds", "datatrove"] = Field(
        "tfds", description="tfds: the published C4 values; datatrove: datatrove's C4QualityFilter values")
    min_sentences: int | None = Field(None, ge=0, description="in the lines C4 keeps (preset: 3 or 5)")
    min_words_per_line: int | None = Field(None, ge=0, description="shorter lines are removed (5 or 3)")
    end_marks: list[str] = Field(default_factory=list, description="a kept line ends in one of these")
    max_word_length: int | None = Field(1000, ge=1, description="lines with a longer word are removed")
    remove_lines: bool = Field(True, description="kept documents lose the lines C4 removes (C4 as "
                               "published); false only computes the signals and the page-level reason")
    require_terminal_punct: bool = True
    remove_citations: bool = True
    lorem_ipsum: bool = True
    javascript: bool = True
    curly_bracket: bool = True
    policy: bool = True

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data):
        if not isinstance(data, dict):
            return data
        preset = data.get("preset", "tfds")
        if preset not in PRESETS:
            return data  # the Literal check names the bad value
        # a key given explicitly wins, even null (which turns that rule off)
        return {**PRESETS[preset], **data}


@dataclass
class C4Result:
    kept: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (reason, line or cut-out marker)
    reason: str | None = None
    sentences: int = 0

    @property
    def text(self) -> str:
        return "\n".join(self.kept).strip()

    def removed_json(self) -> str | None:
        """The removed lines with their reasons, for the `c4_removed_lines` column (null when none)."""
        if not self.removed:
            return None
        return json.dumps([{"reason": r, "line": ln} for r, ln in self.removed], ensure_ascii=False)


def count_sentences(line: str) -> int:
    """Sentence ends (., !, ? and their CJK/Arabic/Indic forms before a space or the end); at least 1.

    >>> count_sentences("One. Two! Three")
    2
    """
    return max(len(_SENTENCE_END.findall(line)), 1)


def clean(doc: Doc, cfg: C4Config) -> C4Result:
    """Apply C4's line rules in the TFDS order; blank lines are dropped without a record."""
    out = C4Result()
    ends = tuple(cfg.end_marks)
    for line in doc.lines:
        line = line.strip()
        if not line:
            continue
        # a word longer than the limit needs a line longer than it: most lines skip the scan
        if (cfg.max_word_length is not None and len(line) > cfg.max_word_length
                and any(len(w) > cfg.max_word_length for w in line.split())):
            out.removed.append(("too_long_word", line))
            continue
        if cfg.remove_citations:
            cut = _CITATION.findall(line)
            if cut:
                out.removed.append(("citation", "".join(cut)))
                line = _CITATION.sub("", line)
        if cfg.require_terminal_punct and (not line.endswith(ends) or line.endswith(ELLIPSIS)):
            out.removed.append(("no_terminal_punct", line))
            continue
        if cfg.min_words_per_line is not None and len(line.split()) < cfg.min_words_per_line:
            out.removed.append(("too_few_words", line))
            continue
        lower = line.lower()
        if cfg.lorem_ipsum and "lorem ipsum" in lower:
            out.reason = "c4:lorem_ipsum"
            return out
        if cfg.javascript and "javascript" in lower:
            out.removed.append(("javascript", line))
            continue
        if cfg.curly_bracket and "{" in line:
            out.reason = "c4:curly_bracket"
            return out
        if cfg.policy and any(p in lower for p in POLICY_PHRASES):
            out.removed.append(("policy", line))
            continue
        out.sentences += count_sentences(line)
        out.kept.append(line)
    if cfg.min_sentences is not None and out.sentences < cfg.min_sentences:
        out.reason = "c4:too_few_sentences"
    elif not out.kept:
        out.reason = "c4:no_lines_left"  # with the sentence rule off, an emptied page must still go
    return out


def c4_signals(result: C4Result) -> dict:
    return {"c4_kept_lines": float(len(result.kept)),
            "c4_removed_line_count": float(sum(r != "citation" for r, _ in result.removed)),
            "c4_sentences": float(result.sentences)}


def c4(doc: Doc, cfg: C4Config) -> tuple[dict, str | None]:
    """Signals and the page-level reason (the rule-set interface of `rules.RULE_SETS`)."""
    result = clean(doc, cfg)
    return c4_signals(result), result.reason
