"""normalize: Unicode normalization, line endings, and removal of what is invisible *and* meaningless.

Safe by default: it must not change what a text means or how code runs.
- Unicode NFC (UAX #15): canonical composition only, so "Cafe\u0301" and "Café" become one string while
  compatibility characters (ligatures, full-width forms) stay as written; NFKC is a setting.
- Line endings: CRLF, CR and NEL become LF.
- Removed: C0/C1 control characters except tab and newline (NUL, BEL, ...), U+FEFF (byte-order mark /
  deprecated zero-width no-break space), U+200B zero width space, and the soft hyphen U+00AD (a rendering
  hint; `strip_soft_hyphen: false` keeps it). Trailing spaces and tabs on each line, and runs of more than
  `max_blank_lines` blank lines.
- Kept: leading indentation (Python's syntax), tabs and runs of spaces inside lines (code alignment, TSV),
  and the joiners ZWNJ U+200C / ZWJ U+200D and variation selectors, which are part of the spelling of
  Persian, Hindi and other Brahmic conjuncts, and of emoji ZWJ sequences (The Unicode Standard 15, §23.2
  "Layout Controls"; UTS #51 "Unicode Emoji", §2.3).
The earlier, lossy behaviour (every line stripped, spaces collapsed, joiners deleted) is available as
`collapse_spaces: true, keep_indent: false, strip_joiners: true, max_blank_lines: 1`.
Every change is counted per document: `normalize_edits` (JSON, changes by kind; null when the text is unchanged)
and `normalize_changes` (their sum); `keep_original: true` also keeps the text as it was.
"""
from __future__ import annotations

import json
import re
import unicodedata

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import BatchStage, StageConfig

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0/C1 except \t \n (\r is gone by then)
_LINE_ENDS = re.compile(r"\r\n|\r|\x85")
_ZERO_WIDTH = re.compile(r"[\u200b\ufeff]")
_JOINERS = re.compile(r"[\u200c\u200d]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_TRAILING = re.compile(r"[ \t]+$", re.M)
_LEADING_BLANK = re.compile(r"\A(?:[ \t]*\n)+")


class NormalizeConfig(StageConfig):
    form: str = Field("NFC", pattern="^(NFC|NFKC|NFD|NFKD)$")
    strip_control: bool = Field(True, description="remove C0/C1 control characters except tab and newline")
    strip_zero_width: bool = Field(True, description="remove U+200B zero width space and U+FEFF (BOM)")
    strip_soft_hyphen: bool = Field(True, description="remove U+00AD soft hyphens")
    strip_joiners: bool = Field(False, description="remove ZWNJ/ZWJ too (breaks Persian, Indic and emoji)")
    strip_trailing: bool = Field(True, description="remove spaces and tabs at the end of each line")
    collapse_spaces: bool = Field(False, description="runs of spaces/tabs inside a line become one space")
    keep_indent: bool = Field(True, description="with collapse_spaces, leave leading indentation as it is")
    max_blank_lines: int = Field(2, ge=0, description="runs of more blank lines are shortened to this "
                                                      "(2 keeps PEP 8's two blank lines between definitions)")
    keep_original: bool = Field(False, description="keep the unnormalized text in `text_original`")


def _collapse(line: str, keep_indent: bool) -> str:
    if not keep_indent:
        return _SPACES.sub(" ", line).strip()
    body = line.lstrip(" \t")
    return line[: len(line) - len(body)] + _SPACES.sub(" ", body)


def normalize_text(text: str | None, cfg: NormalizeConfig = NormalizeConfig()) -> str | None:
    """
    >>> normalize_text("Cafe\\u0301  au\\tlait  \\r\\n\\n\\n\\n\\nx\\x07")
    'Café  au\\tlait\\n\\n\\nx'
    >>> normalize_text("def f(x):\\r\\n    if x:\\r\\n        return 1\\r\\n")
    'def f(x):\\n    if x:\\n        return 1'
    """
    return normalize_counted(text, cfg)[0]


def normalize_counted(text: str | None, cfg: NormalizeConfig = NormalizeConfig()) -> tuple[str | None, dict]:
    """The normalized text and what changed, counted by kind (only kinds that changed something):
    line_endings (CRLF/CR/NEL converted), unicode_form (1 when the normalization form changed the text),
    control, zero_width, soft_hyphen, joiners (characters removed), spaces (runs collapsed), trailing_spaces
    (lines trimmed), blank_lines (runs shortened), edges (leading blank lines or trailing whitespace removed).

    >>> normalize_counted("a \\r\\nb\\x07")
    ('a\\nb', {'line_endings': 1, 'control': 1, 'trailing_spaces': 1})
    """
    if text is None:
        return None, {}
    counts: dict[str, int] = {}

    def sub(kind: str, pattern, repl: str, s: str) -> str:
        out, n = (pattern.subn(repl, s) if not isinstance(pattern, str) else re.subn(pattern, repl, s))
        if n:
            counts[kind] = counts.get(kind, 0) + n
        return out

    text = sub("line_endings", _LINE_ENDS, "\n", text)
    form = unicodedata.normalize(cfg.form, text)
    if form != text:
        counts["unicode_form"] = 1
    text = form
    if cfg.strip_control:
        text = sub("control", _CONTROL, "", text)
    if cfg.strip_zero_width:
        text = sub("zero_width", _ZERO_WIDTH, "", text)
    if cfg.strip_soft_hyphen:
        text = sub("soft_hyphen", "\u00ad", "", text)
    if cfg.strip_joiners:
        text = sub("joiners", _JOINERS, "", text)
    if cfg.collapse_spaces:
        lines = text.split("\n")
        new = [_collapse(line, cfg.keep_indent) for line in lines]
        if new != lines:
            counts["spaces"] = sum(a != b for a, b in zip(lines, new))
        text = "\n".join(new)
    if cfg.strip_trailing:
        text = sub("trailing_spaces", _TRAILING, "", text)
    keep = cfg.max_blank_lines + 1  # newlines in a row that are allowed
    text = sub("blank_lines", r"\n{%d,}" % (keep + 1), "\n" * keep, text)
    # leading blank lines and trailing whitespace go; the first line's indentation stays
    out = _LEADING_BLANK.sub("", text).rstrip()
    if out != text:
        counts["edges"] = 1
    return out, counts


class Normalize(BatchStage):
    name = "normalize"
    Config = NormalizeConfig
    rewrites_text = True
    text_records = ("normalize_edits", "normalize_changes")

    def produced_columns(self):
        cols = {"normalize_changes": "int", "normalize_edits": "string"}
        return {**cols, "text_original": "string"} if self.config.keep_original else cols

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts, edits, changes = [], [], []
        for t in batch.column("text").to_pylist():
            new, counts = normalize_counted(t, self.config)
            texts.append(new)
            edits.append(json.dumps(counts) if counts else None)
            changes.append(sum(counts.values()))
        out = {"text": pa.array(texts, pa.string()), "normalize_changes": changes, "normalize_edits": edits}
        if self.config.keep_original:
            out["text_original"] = batch.column("text")
        return self.emit(batch, out)
