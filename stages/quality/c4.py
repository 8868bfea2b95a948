r"""C4's cleaning rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
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
rule off, when no line is left). The TFDS values are the default (`preset: tfds`); `preset: datatrove` gives
datatrove's `C4QualityFilter` values (5 sentences, 3 words per line, `'` also an end mark). Any single value
can still be set beside the preset.

The text of a kept page. TFDS (`output: tfds`) returns the stripped kept lines joined by "\n": a Markdown page
or a code block loses its paragraphs and indentation, a CRLF page its line endings. By default
(`output: as_written`, our choice) the kept lines stay exactly as written (indentation, CRLF, trailing spaces)
with the blank lines between them; blank lines before the first and after the last kept line go. A page with
nothing to remove is byte-identical. Either way every change is recorded (`removed_json`): each removed line
(as written, without its line ending) with its rule, each blank line dropped (`blank`), each citation cut
(`citation`, with `cut`) and, with `output: tfds`, each kept line whose whitespace was stripped (`whitespace`),
or `line_endings` when only line endings changed. `c4_removed_line_count` counts the removed lines,
`c4_edited_lines` the kept lines that changed.

Citations: TFDS's regex is `\[\d*\]|\[edit\]|\[citation needed\]`, which also cuts an empty `[]` (`result = []` in
code); the default requires a number (`\[\d+\]`), `output: tfds` uses the published regex.

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
_CITATION = re.compile(r"\[\d+\]|\[edit\]|\[citation needed\]")
_CITATION_TFDS = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")  # as published: "[]" matches too
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                  "use cookies")
_POLICY = re.compile("|".join(map(re.escape, POLICY_PHRASES)))  # one search per line, not one per phrase
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
    output: Literal["as_written", "tfds"] = Field(
        "as_written", description="as_written: kept lines exactly as written with the blank lines between them; "
        "tfds: TFDS's output (stripped kept lines joined by newlines, its citation regex)")
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


# record kinds of a kept line that changed; every other kind removed a line
EDITS = ("citation", "whitespace", "line_endings")


@dataclass
class C4Result:
    kept: list[str] = field(default_factory=list)  # the kept lines, stripped (what the rules judged)
    # (reason, line as written without its ending, cut-out citation markers or None)
    removed: list[tuple[str, str, str | None]] = field(default_factory=list)
    reason: str | None = None
    sentences: int = 0
    text: str = ""  # the kept page's text (for a rejected page, whatever was built before the rule fired)
    edited: int = 0  # kept lines whose content changed (citation cut, whitespace stripped)

    def removed_json(self) -> str | None:
        """Every change with its reason, for the `c4_removed_lines` column (null when the text is unchanged)."""
        if not self.removed:
            return None
        return json.dumps([{"reason": r, "line": ln, **({"cut": cut} if cut else {})}
                           for r, ln, cut in self.removed], ensure_ascii=False)


def count_sentences(line: str) -> int:
    """Sentence ends (., !, ? and their CJK/Arabic/Indic forms before a space or the end); at least 1.

    >>> count_sentences("One. Two! Three")
    2
    """
    return max(len(_SENTENCE_END.findall(line)), 1)


def _line_rule(line: str, cfg: C4Config, ends: tuple[str, ...]) -> str | None:
    """The line rule that removes a stripped (citation-free) line, 'page:<reason>' for a page rule, or None."""
    if cfg.require_terminal_punct and (not line.endswith(ends) or line.endswith(ELLIPSIS)):
        return "no_terminal_punct"
    k = cfg.min_words_per_line
    # split at most k - 1 times: k pieces or fewer tell "fewer than k words" without splitting a long line
    if k is not None and k > 0 and len(line.split(None, k - 1)) < k:
        return "too_few_words"
    lower = line.lower()
    if cfg.lorem_ipsum and "lorem ipsum" in lower:
        return "page:c4:lorem_ipsum"
    if cfg.javascript and "javascript" in lower:
        return "javascript"
    if cfg.curly_bracket and "{" in line:
        return "page:c4:curly_bracket"
    if cfg.policy and _POLICY.search(lower):
        return "policy"
    return None


def _body(raw: str) -> str:
    """A line as written without its line ending (the separators str.splitlines knows)."""
    return raw.rstrip("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def clean(doc: Doc, cfg: C4Config) -> C4Result:
    """Apply C4's line rules in the TFDS order, over the lines str.splitlines finds (as TFDS does)."""
    out = C4Result()
    ends = tuple(cfg.end_marks)
    tfds = cfg.output == "tfds"
    citation = _CITATION_TFDS if tfds else _CITATION
    kept_raw: list[str] = []  # as_written: kept lines and the blank lines between them, with their endings
    gap: list[str] = []  # as_written: blank lines since the last kept line (or the start)
    gap_removed = False  # a line was removed since the last kept line (or the start)
    for raw in doc.text.splitlines(keepends=True):
        body = _body(raw)
        line = body.strip()
        if not line and not tfds:  # TFDS: a blank line has no end mark, so no_terminal_punct removes it
            gap.append(raw)
            continue
        # a word longer than the limit needs a line longer than it: most lines skip the scan
        if (cfg.max_word_length is not None and len(line) > cfg.max_word_length
                and any(len(w) > cfg.max_word_length for w in line.split())):
            out.removed.append(("too_long_word", body, None))
            gap_removed = True
            continue
        cut = citation.findall(line) if cfg.remove_citations and "[" in line else []  # a marker needs a "["
        if cut:
            line = citation.sub("", line)
        rule = _line_rule(line, cfg, ends)
        if rule is not None and rule.startswith("page:"):
            out.reason = rule[5:]
            return out
        if rule is not None:
            out.removed.append((rule, body, None))
            gap_removed = True
            continue
        out.sentences += count_sentences(line)
        out.kept.append(line)
        if cut:
            out.removed.append(("citation", body, "".join(cut)))
        stripped = tfds and body != body.strip()
        if stripped:
            out.removed.append(("whitespace", body, None))
        out.edited += bool(cut) or stripped
        if not tfds:
            _close_gap(out, kept_raw, gap, drop=not kept_raw and gap_removed)
            kept_raw.append(citation.sub("", raw) if cut else raw)
            gap, gap_removed = [], False
    if cfg.min_sentences is not None and out.sentences < cfg.min_sentences:
        out.reason = "c4:too_few_sentences"
    elif not out.kept:
        out.reason = "c4:no_lines_left"  # with the sentence rule off, an emptied page must still go
    if tfds:
        out.text = "\n".join(out.kept).strip()
        if out.text != doc.text and not out.removed and not out.reason:  # only CRLF/CR or a final newline
            out.removed.append(("line_endings", "", None))
    else:
        _close_gap(out, kept_raw, gap, drop=gap_removed)
        out.text = "".join(kept_raw)
    return out


def _close_gap(out: C4Result, kept_raw: list[str], gap: list[str], drop: bool) -> None:
    """Blank lines between kept lines stay; at the page's start or end they go (recorded) only when a line
    was removed there too, so a page with nothing removed stays byte-identical."""
    if drop:
        out.removed.extend(("blank", _body(b), None) for b in gap)
    else:
        kept_raw.extend(gap)


C4_SIGNALS = ("c4_kept_lines", "c4_removed_line_count", "c4_edited_lines", "c4_sentences")


def c4_signals(result: C4Result) -> dict:
    return {"c4_kept_lines": float(len(result.kept)),
            "c4_removed_line_count": float(sum(r not in EDITS for r, _, _ in result.removed)),
            "c4_edited_lines": float(result.edited),
            "c4_sentences": float(result.sentences)}


def c4(doc: Doc, cfg: C4Config) -> tuple[dict, str | None]:
    """Signals and the page-level reason (the rule-set interface of `rules.RULE_SETS`)."""
    result = clean(doc, cfg)
    return c4_signals(result), result.reason
