"""normalize: Unicode NFC, whitespace and control characters."""
from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import BatchStage, StageConfig

# C0/C1 controls except tab and newline; they break tokenizers and fastText alike.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")


class NormalizeConfig(StageConfig):
    form: str = Field("NFC", pattern="^(NFC|NFKC|NFD|NFKD)$")
    collapse_spaces: bool = True
    max_blank_lines: int = Field(1, ge=0, description="runs of more blank lines are shortened to this")
    strip_control: bool = True
    strip_zero_width: bool = True
    keep_original: bool = Field(False, description="keep the unnormalized text in `text_original`")


def normalize_text(text: str | None, cfg: NormalizeConfig = NormalizeConfig()) -> str | None:
    """
    >>> normalize_text("Cafe\\u0301  au\\tlait\\r\\n\\n\\n\\nx\\x07")
    'Café au lait\\n\\nx'
    """
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize(cfg.form, text)
    if cfg.strip_control:
        text = _CONTROL.sub("", text)
    if cfg.strip_zero_width:
        text = _ZERO_WIDTH.sub("", text)
    if cfg.collapse_spaces:
        text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    keep = cfg.max_blank_lines + 1  # newlines in a row that are allowed
    text = re.sub("\n{%d,}" % (keep + 1), "\n" * keep, text)
    return text.strip()
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
        cols.append(pa.nulls(batch.num_rows, pa.string()))
        return pa.RecordBatch.from_arrays(cols, names=names + ["drop_reason"])
