"""The Stage contract, the registry, and the per-worker cache.

A stage tags rows: it sets `drop_reason` (null = keep) and its own signal columns. The runner is the
one place that splits kept from rejected and writes both, so no stage can lose a row.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from . import storage
from .errors import StageError
from .registry import Registry

DROP_REASON = "drop_reason"
# Mark a config field that names a file or folder the stage reads: Field(..., json_schema_extra=FILE).
# The file's size, mtime and content digest enter the stage hash, so editing it reruns the stage.
FILE = {"gristmill_file": True}


class StageConfig(BaseModel):
    """Base for every stage's config: unknown keys are errors.

    Every stage may apply to part of the corpus (a per-domain recipe): `where` (a Spark SQL predicate) or
    `domains` (shorthand for `domain IN (...)`). Rows outside pass through the stage untouched (runner.execute_stage
    routes them around it and counts them as `passed_through`)."""
    model_config = ConfigDict(extra="forbid")
    where: str | None = Field(None, min_length=1, description="Spark SQL predicate: the stage applies only to the "
                                                              "rows where it is true; the others pass through")
    domains: list[str] | None = Field(None, min_length=1, description="apply only to these domains (the "
                                                                      "`domain` column); the others pass through")

    @model_validator(mode="after")
    def _one_scope(self):
        if self.where is not None and self.domains is not None:
            raise ValueError("give either `where` or `domains`, not both (domains: [a] is where: domain IN ('a'))")
        return self

    @model_serializer(mode="wrap")
    def _drop_unset_scope(self, handler):
        # an unset scope is left out, so a stage's settings and hash read as they did before scopes existed
        out = handler(self)
        for k in ("where", "domains"):
            if isinstance(out, dict) and out.get(k) is None:
                out.pop(k, None)
        return out

    def scope_sql(self) -> str | None:
        """The rows this stage applies to, as a Spark SQL predicate; None: all rows."""
        if self.domains is not None:
            quoted = ", ".join("'" + d.replace("'", "''") + "'" for d in self.domains)
            return f"domain IN ({quoted})"
        return self.where


@dataclass
class StageContext:
    """What a stage may use while it runs on the driver."""
    spark: Any
    run_dir: Path
    work_dir: Path  # temporary folder that becomes the stage folder on success; artifacts go here
    stage_dir: Path  # the final folder (for messages only: it is replaced at the end)
    index: int
    name: str
    extra: dict = field(default_factory=dict)


STAGES: Registry["Stage"] = Registry("stage", "gristmill.stage_packages")


def known_stages() -> list[str]:
    return STAGES.names()


def get_stage(name: str) -> type["Stage"]:
    cls = STAGES.get(name)
    if cls is None:
        raise StageError(f"unknown stage '{name}'; known stages: {', '.join(known_stages())}{STAGES.problems()}")
    return cls


class Stage:
    name: ClassVar[str]
    Config: ClassVar[type[StageConfig]] = StageConfig
    requires: ClassVar[tuple[str, ...]] = ("id", "text")
    # name -> Spark SQL type string (e.g. "string", "float", "array<string>")
    produces: ClassVar[dict[str, str]] = {}
    # True: transform() returns its input unchanged (its product is a file, e.g. embed, mix); the runner then
    # keeps the previous stage's kept/ (a KEPT_FROM pointer, rundir.py) instead of copying the corpus
    passes_through: ClassVar[bool] = False
    # A stage that may change `text` says so, and names the columns that record per document what it changed
    # (non-null and non-zero on every row whose text changed); any other stage must leave `text` byte-identical.
    rewrites_text: ClassVar[bool] = False
    text_records: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        STAGES.add(cls)

    def __init__(self, config: StageConfig, ctx: StageContext | None = None):
        self.config = config
        self.ctx = ctx

    # -- plan time ---------------------------------------------------------------------------------
    def check_columns(self, columns: list[str]) -> None:
        if self.config.scope_sql() is not None and self.passes_through:
            raise StageError(f"stage '{self.name}' passes its documents through unchanged, so `where`/`domains` "
                             f"has nothing to select; remove it from this stage")
        missing = [c for c in self.required_columns() if c not in columns]
        if missing:
            raise StageError(
                f"stage '{self.name}' needs column(s) {missing} but its input has {sorted(columns)}; "
                f"add the stage that produces them earlier in the config")

    def required_columns(self) -> tuple[str, ...]:
        if self.config.domains is not None and "domain" not in self.requires:
            return (*self.requires, "domain")
        return self.requires

    def produced_columns(self) -> dict[str, str]:
        return dict(self.produces)

    def files(self) -> list[str]:
        """Files and folders this stage reads (config fields marked FILE); override to add derived ones."""
        out: list[str] = []

        def collect(v):
            if isinstance(v, (str, Path)):
                out.append(str(v))
            elif isinstance(v, (list, tuple)):
                for x in v:
                    collect(x)
            elif isinstance(v, dict):
                for x in v.values():
                    collect(x)

        for name, info in type(self.config).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("gristmill_file"):
                collect(getattr(self.config, name))
        return out

    def preflight(self) -> None:
        """Driver-side checks before Spark runs anything (model paths exist, files readable)."""

    # -- run time ----------------------------------------------------------------------------------
    def transform(self, df):
        """DataFrame in, DataFrame out with `drop_reason` (null = keep) and produced columns."""
        raise NotImplementedError

    def stats(self) -> dict:
        """Extra numbers for stats.json, computed inside Spark (never a collect of documents)."""
        return {}

    def counters(self, rejected) -> dict:
        """The counters every stage keeps (as datatrove's BaseFilter does): rejected rows per drop reason,
        one small Spark aggregate over the rejected rows the runner wrote, so retried tasks never count twice."""
        from pyspark.sql import functions as F
        rows = rejected.groupBy(DROP_REASON).agg(F.count(F.lit(1)).alias("n")).collect()
        return {"drop_reasons": {r[DROP_REASON]: int(r["n"]) for r in sorted(rows, key=lambda r: -r["n"])}}

    # -- files a stage publishes outside its folder (RUN/mixture.json) -----------------------------------
    @classmethod
    def publish(cls, run, stage_dir) -> None:
        """Called by the runner after the stage committed (and when it is skipped as up to date): copy what
        the stage wrote inside its own folder to where users look for it. Nothing by default."""

    @classmethod
    def unpublish(cls, run) -> None:
        """Called before the stage runs: remove what an earlier attempt published, so a killed attempt never
        leaves a published file pointing at its uncommitted work. Nothing by default."""


# -- per-document stages over Arrow batches ---------------------------------------------------------
_WORKER_CACHE: dict[Any, Any] = {}
_WORKER_LOCK = threading.RLock()  # setup() may itself call worker_cached


def worker_cached(key: Any, factory: Callable[[], Any]) -> Any:
    """Build an object once per Python worker process (models, tables) and reuse it across tasks.

    Spark reuses Python workers between tasks (spark.python.worker.reuse), so module globals live on."""
    with _WORKER_LOCK:
        if key not in _WORKER_CACHE:
            _WORKER_CACHE[key] = factory()
        return _WORKER_CACHE[key]


def _run_batches(cls: type["BatchStage"], config_json: str, batches: Iterator, rows_acc=None,
                 files_key: str = "") -> Iterator:
    # files_key: the declared files' sizes and mtimes, so a worker that outlives a run (same SparkSession)
    # does not keep a model or blocklist loaded from an older version of the same path
    stage = worker_cached(("stage", cls.__module__, cls.__qualname__, config_json, files_key),
                          lambda: cls._for_worker(config_json))
    for batch in batches:
        if batch.num_rows:
            out = stage.process_batch(batch)
            if rows_acc is not None:
                rows_acc.add(batch.num_rows)
            yield out


class BatchStage(Stage):
    """Per-document stage: write setup() and process_batch(); the base runs it through mapInArrow."""

    @classmethod
    def _for_worker(cls, config_json: str) -> "BatchStage":
        stage = cls(cls.Config.model_validate_json(config_json))
        stage.setup()
        return stage

    def setup(self) -> None:
        """Heavy imports and model loading; runs once per Python worker."""

    def process_batch(self, batch):  # pa.RecordBatch -> pa.RecordBatch; build the result with emit()
        raise NotImplementedError

    def emit(self, batch, new: dict):
        """The one way a per-document stage builds its output batch (as output_schema() declares it): see
        merge_batch, with the column types and order of produced_columns()."""
        return merge_batch(batch, new, {**self.produced_columns(), DROP_REASON: "string"})

    def output_schema(self, input_schema):
        from pyspark.sql.types import StructField, StructType, _parse_datatype_string
        fields = [f for f in input_schema.fields]
        names = {f.name for f in fields}
        extra = dict(self.produced_columns())
        extra.setdefault(DROP_REASON, "string")
        for col, typ in extra.items():
            dt = _parse_datatype_string(typ)
            if col in names:
                fields = [StructField(col, dt, True) if f.name == col else f for f in fields]
            else:
                fields.append(StructField(col, dt, True))
        return StructType(fields)

    def transform(self, df):
        cls, cfg = type(self), self.config.model_dump_json()
        acc = self.ctx.extra.get("rows_acc") if self.ctx else None
        schema = self.output_schema(df.schema)
        fk = _files_key(self.files())
        return df.mapInArrow(lambda it: _run_batches(cls, cfg, it, acc, fk), schema)


def _arrow_types() -> dict:
    import pyarrow as pa
    return {"string": pa.string(), "float": pa.float32(), "double": pa.float64(), "int": pa.int32(),
            "bigint": pa.int64(), "long": pa.int64(), "boolean": pa.bool_(), "array<string>": pa.list_(pa.string()),
            "map<string,float>": pa.map_(pa.string(), pa.float32())}


class _LazyTypes(dict):
    """Spark SQL type strings -> Arrow types, built on first use (pyarrow is imported on the workers)."""

    def get(self, key, default=None):
        if not self:
            self.update(_arrow_types())
        return super().get(key.replace(" ", ""), default)


_ARROW_TYPES = _LazyTypes()


def _files_key(paths: list[str]) -> str:
    out = []
    for p in paths:
        for f in sorted(Path(p).rglob("*")) if Path(p).is_dir() else [Path(p)]:
            try:
                st = f.stat()
            except OSError:
                continue
            out.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(out)


# Artifacts up to this size on disk are broadcast to the join with the documents, so the texts are
# never shuffled; Spark cannot know the size of a table derived from the texts until it is written.
BROADCAST_BYTES = 64 << 20


def folder_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in storage.path(path).rglob("*.parquet"))


class FitStage(Stage):
    """Global stage: fit() computes what needs the whole corpus inside Spark, tag() marks rows."""

    def artifact(self, name: str) -> str:
        """Where fit() keeps a table it computed: inside the stage folder, so it survives with the run."""
        return str(self.ctx.work_dir / name)

    def save_artifact(self, df, name: str):
        """Write a computed table under the stage folder and read it back (short lineage, known size)."""
        df.write.mode("overwrite").parquet(self.artifact(name))
        return self.ctx.spark.read.parquet(self.artifact(name))

    def _small(self, name: str) -> bool:
        return folder_bytes(self.artifact(name)) <= BROADCAST_BYTES

    def join_artifact(self, df, name: str, on: str = "id"):
        """Left-join a saved per-document table onto the documents, broadcast when it is small."""
        from pyspark.sql import functions as F
        table = self.ctx.spark.read.parquet(self.artifact(name))
        return df.join(F.broadcast(table) if self._small(name) else table, on=on, how="left")

    def fit(self, df) -> None:
        raise NotImplementedError

    def tag(self, df):
        raise NotImplementedError

    def transform(self, df):
        self.fit(df)
        return self.tag(df)


def merge_batch(batch, new: dict, declared: dict | None = None):
    """A stage's output batch: its input batch with the columns in `new` (column -> Arrow array, or a list typed
    by `declared`, a produced_columns()-style {name: type}).

    A column the input has is replaced in place; the others are appended in the order `declared` gives, then
    drop_reason. A drop_reason in `new` is merged with the one the batch carries (an earlier reason wins);
    without one the batch's is kept, or a null column added. BatchStage.emit and the mapInArrow bodies of
    global stages both build their batches here."""
    import pyarrow as pa
    declared = declared or {}
    new = dict(new)
    if DROP_REASON in batch.schema.names and DROP_REASON in new:
        old = batch.column(DROP_REASON).to_pylist()
        mine = new[DROP_REASON]
        mine = mine.to_pylist() if hasattr(mine, "to_pylist") else mine
        new[DROP_REASON] = [o if o is not None else r for o, r in zip(old, mine)]
    elif DROP_REASON not in batch.schema.names and DROP_REASON not in new:
        new[DROP_REASON] = pa.nulls(batch.num_rows, pa.string())

    def arrow(name, values):
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            return values
        return pa.array(values, _ARROW_TYPES.get(declared.get(name, "string")))

    names = list(batch.schema.names)
    order = [n for n in declared if n in new and n not in names] + [n for n in new if n not in names
                                                                      and n not in declared]
    order = [n for n in order if n != DROP_REASON] + ([DROP_REASON] if DROP_REASON in order else [])
    cols = [arrow(n, new[n]) if n in new else batch.column(n) for n in names]
    return pa.RecordBatch.from_arrays(cols + [arrow(n, new[n]) for n in order], names=names + order)
