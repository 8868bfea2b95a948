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
"""
from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import BatchStage, StageConfig

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # C0/C1 except \t \n (\r is gone by then)
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
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n")
    text = unicodedata.normalize(cfg.form, text)
    if cfg.strip_control:
        text = _CONTROL.sub("", text)
    if cfg.strip_zero_width:
        text = _ZERO_WIDTH.sub("", text)
    if cfg.strip_soft_hyphen:
        text = text.replace("\u00ad", "")
    if cfg.strip_joiners:
        text = _JOINERS.sub("", text)
    if cfg.collapse_spaces:
        text = "\n".join(_collapse(line, cfg.keep_indent) for line in text.split("\n"))
    if cfg.strip_trailing:
        text = _TRAILING.sub("", text)
    keep = cfg.max_blank_lines + 1  # newlines in a row that are allowed
    text = re.sub(r"\n{%d,}" % (keep + 1), "\n" * keep, text)
    # leading blank lines and trailing whitespace go; the first line's indentation stays
    return _LEADING_BLANK.sub("", text).rstrip()


class Normalize(BatchStage):
    name = "normalize"
    Config = NormalizeConfig

    def produced_columns(self):
        return {"text_original": "string"} if self.config.keep_original else {}

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        out = pa.array([normalize_text(t, self.config) for t in texts], pa.string())
        names = batch.schema.names
        cols = [out if n == "text" else batch.column(n) for n in names]
        if self.config.keep_original:
            cols.append(batch.column("text"))
            names = names + ["text_original"]
        if "drop_reason" in names:
            return pa.RecordBatch.from_arrays(cols, names=names)
        cols.append(pa.nulls(batch.num_rows, pa.string()))
        return pa.RecordBatch.from_arrays(cols, names=names + ["drop_reason"])
