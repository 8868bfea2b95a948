"""domain: label each document with a domain, from its source, a column, URL rules or a fastText classifier.

`from: source` (or `column`) takes the value itself, or maps it through `rules` (regex -> domain, first match
wins); `from: url` applies `rules` to the URL; `from: fasttext` predicts with a model trained by
`gristmill train-domain`. Unmatched rows get `default`, or are dropped as `domain:unlabelled` when
`drop_unlabelled` is set.
"""
from __future__ import annotations

import re
from typing import Literal

import pyarrow as pa
from pydantic import ConfigDict, Field, model_validator

from gristmill.pipeline.stage import DROP_REASON, FILE, BatchStage, StageConfig

from .fasttext_model import load_fasttext, predict


class DomainConfig(StageConfig):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: Literal["source", "column", "url", "fasttext"] = Field("source", alias="from")
    column: str | None = Field(None, description="the column for from: column")
    rules: dict[str, str] = Field(default_factory=dict, description="regex -> domain, first match wins")
    model: str | None = Field(None, description="fastText model path for from: fasttext", json_schema_extra=FILE)
    min_score: float = Field(0.0, ge=0, le=1, description="fastText predictions below this get `default`")
    default: str | None = Field("other", description="domain for rows no rule or model labels")
    drop_unlabelled: bool = False

    @model_validator(mode="after")
    def _check(self):
        if self.from_ == "url" and not self.rules:
            raise ValueError("from: url needs `rules` (regex -> domain)")
        if self.from_ == "column" and not self.column:
            raise ValueError("from: column needs `column`")
        if self.from_ == "fasttext" and not self.model:
            raise ValueError("from: fasttext needs `model` (train one with `gristmill train-domain`)")
        for pattern in self.rules:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"rules: {pattern!r} is not a valid regex ({e})") from None
        return self


def predict_labels(model, texts: list[str | None]) -> tuple[list[str | None], list[float]]:
    """One batched fastText call: the best label (None when the model gives none) and its probability."""
    # fastText reads one line per text: newlines would cut the document short
    labels, probs = predict(model, [" ".join((t or "").split()) for t in texts], 1)
    return [row[0] if row else None for row in labels], [p[0] if p else 0.0 for p in probs]


def _load(path: str):
    return load_fasttext(path, "domain model (train one with `gristmill train-domain`)")


class Domain(BatchStage):
    name = "domain"
    Config = DomainConfig
    produces = {"domain": "string", "domain_score": "float"}

    def required_columns(self):
        c = self.config
        col = {"source": "source", "column": c.column, "url": "url", "fasttext": "text"}[c.from_]
        return ("id", "text", col) if col not in ("id", "text") else ("id", "text")

    def preflight(self):
        if self.config.from_ == "fasttext":
            _load(self.config.model)

    def setup(self):
        self._rules = [(re.compile(p), d) for p, d in self.config.rules.items()]
        self._model = _load(self.config.model) if self.config.from_ == "fasttext" else None

    def _by_rules(self, values: list) -> tuple[list, list]:
        if not self._rules:  # from source/column without rules: the value is the domain
            return values, [1.0 if v is not None else None for v in values]
        out = []
        for v in values:
            out.append(next((d for rx, d in self._rules if v is not None and rx.search(v)), None))
        return out, [1.0 if d is not None else None for d in out]

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        c = self.config
        if c.from_ == "fasttext":
            labels, scores = predict_labels(self._model, batch.column("text").to_pylist())
            labels = [lab if s >= c.min_score else None for lab, s in zip(labels, scores)]
        else:
            col = {"source": "source", "column": c.column, "url": "url"}[c.from_]
            labels, scores = self._by_rules(batch.column(col).to_pylist())
        reasons = [None] * batch.num_rows
        if c.drop_unlabelled:
            reasons = ["domain:unlabelled" if lab is None else None for lab in labels]
        labels = [lab if lab is not None else c.default for lab in labels]
        return self.emit(batch, {"domain": pa.array(labels, pa.string()),
                                 "domain_score": pa.array(scores, pa.float32()), DROP_REASON: reasons})
