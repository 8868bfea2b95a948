"""datatrove: run any datatrove pipeline step (a filter, formatter or extractor) inside Spark workers.

Rows become datatrove `Document`s (text, id, and every other column in `metadata`, as datatrove's readers
put url and dates there), go through the step's own `run()` in batches, and come back as rows:
- a document the step drops is a rejected row, `drop_reason = datatrove:<label>:<reason>` where reason is
  the filter's reason string (`gopher_short_doc`), or `dropped` when the step gives none (an extractor that
  returned nothing); the row keeps its text as it came in;
- a kept document's text replaces `text` (formatters and extractors rewrite it); `metadata_columns` names
  metadata keys the step sets that should become columns (e.g. LanguageFilter's `language`);
- the step's stats (the counters and timings datatrove prints) are summed over all tasks into stats.json.

Because the step's own `run()` decides, the decisions equal datatrove's LocalPipelineExecutor on the same
documents (tests/stages/test_datatrove_step.py checks this). A filter's exclusion_writer is replaced by a
collector: rejected rows go to the stage's rejected/ folder like every other stage's.
"""
from __future__ import annotations

import importlib
from typing import Iterator

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import DROP_REASON, BatchStage, StageConfig, StageError, worker_cached

_ARROW = {"string": pa.string(), "double": pa.float64(), "float": pa.float32(), "bigint": pa.int64(),
          "long": pa.int64(), "int": pa.int32(), "boolean": pa.bool_()}


class DatatroveConfig(StageConfig):
    step: str = Field(..., description="import path of the step class, e.g. "
                                       "datatrove.pipeline.filters.GopherQualityFilter")
    kwargs: dict = Field(default_factory=dict, description="keyword arguments for the step's constructor")
    label: str | None = Field(None, description="name in drop reasons; default: the class name")
    metadata_columns: dict[str, str] = Field(default_factory=dict,
                                             description="metadata key -> column type (string, double, "
                                                         "bigint, int, float, boolean)")


def load_step(cfg: DatatroveConfig):
    """Import and construct the step; errors say what to fix."""
    mod_name, _, cls_name = cfg.step.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(mod_name), cls_name)
    except (ImportError, AttributeError, ValueError) as e:
        raise StageError(f"datatrove.step: cannot import {cfg.step!r} ({e}); give a full import path such as "
                         f"datatrove.pipeline.filters.GopherQualityFilter (and `pip install "
                         f"'datatrove[processing]'` if datatrove is missing)") from None
    from datatrove.pipeline.base import PipelineStep
    if not (isinstance(cls, type) and issubclass(cls, PipelineStep)):
        raise StageError(f"datatrove.step: {cfg.step} is not a datatrove PipelineStep")
    try:
        return cls(**cfg.kwargs)
    except TypeError as e:
        raise StageError(f"datatrove.kwargs: {cls_name}({cfg.kwargs}) failed: {e}") from None


class _Rejects:
    """Stands in for a filter's exclusion_writer: remembers the reason of each dropped document."""

    def __init__(self):
        self.reasons: dict[str, str | None] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, doc, rank: int = 0, **_):
        self.reasons[doc.id] = doc.metadata.get("filter_reason")


class StatsParam:
    """Spark accumulator of datatrove Stats dicts (summed the way datatrove merges task stats)."""

    def zero(self, value):
        return {}

    def addInPlace(self, a: dict, b: dict) -> dict:
        if not a:
            return b
        if not b:
            return a
        from datatrove.utils.stats import Stats
        return (Stats.from_dict(a) + Stats.from_dict(b)).to_dict()


def _run(cls, config_json: str, batches: Iterator, rows_acc, stats_acc) -> Iterator[pa.RecordBatch]:
    stage = worker_cached(("stage", cls.__module__, cls.__qualname__, config_json),
                          lambda: cls._for_worker(config_json))
    for batch in batches:
        if batch.num_rows:
            yield stage.process_batch(batch)
            if rows_acc is not None:
                rows_acc.add(batch.num_rows)
            if stats_acc is not None:
                stats_acc.add(stage.take_stats())


class DatatroveStep(BatchStage):
    name = "datatrove"
    Config = DatatroveConfig
    requires = ("id", "text")
    rewrites_text = True  # a formatter step may; datatrove_text_changed marks each row it changed
    text_records = ("datatrove_text_changed",)

    def produced_columns(self) -> dict[str, str]:
        return {"text": "string", "datatrove_text_changed": "boolean", **self.config.metadata_columns}

    def preflight(self) -> None:
        bad = {k: t for k, t in self.config.metadata_columns.items() if t not in _ARROW}
        if bad:
            raise StageError(f"datatrove.metadata_columns: unsupported types {bad}; use one of {sorted(_ARROW)}")
        load_step(self.config)

    def setup(self) -> None:
        from datatrove.pipeline.filters.base_filter import BaseFilter
        self.step = load_step(self.config)
        self.label = self.config.label or type(self.step).__name__
        self.is_filter = isinstance(self.step, BaseFilter)

    def take_stats(self) -> dict:
        """The step's stats since the last call (each batch's, so a reused worker never counts twice)."""
        from datatrove.utils.stats import Stats
        out = self.step.stats.to_dict()
        self.step.stats = Stats(str(self.step))
        return out

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        from datatrove.data import Document
        rows = batch.to_pylist()
        reasons: list[str | None] = [None] * len(rows)
        docs = []
        for i, row in enumerate(rows):
            if row.get("text") is None:
                reasons[i] = f"datatrove:{self.label}:no_text"
                continue
            meta = {k: v for k, v in row.items() if k not in ("text", "id", DROP_REASON)}
            docs.append(Document(text=row["text"], id=str(row["id"]), metadata=meta))
        rejects = _Rejects()
        if self.is_filter:
            self.step.exclusion_writer = rejects
        out = {d.id: d for d in self.step.run(iter(docs), rank=0, world_size=1)}
        texts, meta_cols = [], {k: [] for k in self.config.metadata_columns}
        for i, row in enumerate(rows):
            doc = out.get(str(row["id"]))
            if reasons[i] is None and doc is None:
                why = rejects.reasons.get(str(row["id"])) or "dropped"
                reasons[i] = f"datatrove:{self.label}:{why}"
            texts.append(doc.text if doc is not None else row.get("text"))
            for k in meta_cols:
                meta_cols[k].append(doc.metadata.get(k) if doc is not None else None)
        changed = [t != row.get("text") for t, row in zip(texts, rows)]
        new = {"text": pa.array(texts, pa.string()), "datatrove_text_changed": pa.array(changed, pa.bool_()),
               DROP_REASON: pa.array(reasons, pa.string())}
        for k, t in self.config.metadata_columns.items():
            new[k] = pa.array(meta_cols[k], _ARROW[t])
        return self.emit(batch, new)

    def transform(self, df):
        cls, cfg = type(self), self.config.model_dump_json()
        rows_acc = self.ctx.extra.get("rows_acc") if self.ctx else None
        self._stats_acc = df.sparkSession.sparkContext.accumulator({}, StatsParam())
        stats_acc = self._stats_acc
        schema = self.output_schema(df.schema)
        return df.mapInArrow(lambda it: _run(cls, cfg, it, rows_acc, stats_acc), schema)

    def stats(self) -> dict:
        acc = getattr(self, "_stats_acc", None)
        return {"datatrove_step": self.config.step, "datatrove_stats": acc.value if acc is not None else {}}
