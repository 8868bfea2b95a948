"""One selection over a Spark DataFrame of documents, shared by the `select` stage and `gristmill select`.

Embedding selectors get their matrix from shards the workers wrote; text selectors (DSIR, ZIP-FIT) score
documents inside the workers. Only ids, scores and vectors reach the driver, never document text. Which path
runs is the selector's to say (`input`, `spark_ready`, `select_spark`): nothing here names a selector.
publish_selection is the one writer of the selection folder."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from gristmill.pipeline.inputs.examples import iter_examples, read_texts
from gristmill.pipeline.stage import FILE, StageConfig, StageError

from .base import (
    SELECTORS,
    Selection,
    Selector,
    SelectorError,
    TextSelector,
    get_selector,
    known_selectors,
    resolve_budget,
)
from .embed import Embedder, EmbedSettings, load_embeddings
from .spark_embed import embed_df, embeddings_folder
from .spark_select import SparkJob, score_texts


class SelectConfig(StageConfig):
    selector: str = Field("facility_location", description="a selector name: facility_location, semdedup, d4, "
                                                           "ssl_prototypes, dsir, zipfit, target_knn, random, or one "
                                                           "a plugin registers")
    budget: int | float = Field(..., description="documents to keep: a count, or a fraction in (0, 1]")
    params: dict[str, Any] = Field(default_factory=dict, description="selector parameters (see its Params class)")
    target: str | None = Field(None, description="jsonl/parquet/txt file of target examples (dsir, zipfit, "
                                                  "target_knn; target_knn reads each row's `task` too)",
                               json_schema_extra=FILE)
    seed: int = 0
    model_path: str | None = Field(None, description="sentence-transformers or causal-LM folder; default "
                                                     "all-MiniLM-L6-v2")
    max_tokens: int = Field(256, ge=8)
    long_docs: str = Field("first", pattern="^(first|mean)$")
    batch_size: int = Field(32, ge=1)
    distributed: bool | Literal["auto"] = Field(
        "auto", description="select as Spark jobs (the driver holds centroids and counts, never every vector, id "
                            "or score); auto: when the corpus has more than `driver_rows` documents")
    driver_rows: int = Field(1_000_000, ge=1, description="largest corpus selected in one process under `auto`")
    sample_rows: int = Field(200_000, ge=1, description="vectors the driver samples for k-means centroids "
                                                         "(distributed facility location, semdedup, d4, "
                                                         "ssl_prototypes)")

    @field_validator("selector")
    @classmethod
    def _known(cls, v):
        if v not in known_selectors():
            raise ValueError(f"unknown selector {v!r}; known: {', '.join(known_selectors())}")
        return v

    @model_validator(mode="after")
    def _params(self):
        """select.params checked against the selector's own Params model when the config loads."""
        cls = SELECTORS.get(self.selector)
        if cls is not None and cls.__init__ is Selector.__init__:
            try:
                cls.Params(**{"seed": self.seed, **self.params})
            except ValidationError as e:
                bad = ", ".join(f"params.{'.'.join(map(str, x['loc']))}: " +
                                ("no such parameter" if x["type"] == "extra_forbidden" else x["msg"])
                                for x in e.errors())
                raise ValueError(f"selector {self.selector!r}: {bad}; it takes {sorted(cls.Params.model_fields)}")
        return self

    def embed_settings(self) -> EmbedSettings:
        return EmbedSettings(model_path=self.model_path, max_tokens=self.max_tokens, long_docs=self.long_docs,
                             batch_size=self.batch_size)

    def use_spark(self, n: int, selector) -> bool:
        """Distributed when asked (or past driver_rows under auto) and the selector has a Spark path."""
        if not selector.spark_ready():
            if self.distributed is True:
                raise SelectorError(f"selector '{selector.name}' with these parameters has no distributed path yet; "
                                    f"set `distributed: false` (it then runs in one process on the driver)")
            return False
        return self.distributed is True or (self.distributed == "auto" and n > self.driver_rows)

    def make_selector(self):
        return get_selector(self.selector, **{"seed": self.seed, **self.params})


def read_target(path: str) -> tuple[list[str], list | None]:
    """Target examples and their tasks (pipeline/inputs/examples.py: jsonl(.gz), Parquet or .txt with a `text`
    field, and an optional `task` field; None when no row names one)."""
    try:
        rows = [row for _, row in iter_examples(path, ("text", "task")) if row["text"]]
    except StageError as e:
        if "no column" in str(e) and "'task'" in str(e):  # a Parquet file without a task column
            return read_target_texts(path), None
        raise SelectorError(f"target file: {e}") from None
    if not rows:
        raise SelectorError(f"target file {path} holds no non-empty examples; the target set must not be empty")
    tasks = [r.get("task") for r in rows]
    return [r["text"] for r in rows], (tasks if any(t is not None for t in tasks) else None)


def read_target_texts(path: str) -> list[str]:
    """Target examples (pipeline/inputs/examples.py: jsonl(.gz), Parquet or .txt with a `text` field)."""
    try:
        texts = read_texts(path, "text")
    except StageError as e:
        raise SelectorError(f"target file: {e}") from None
    if not texts:
        raise SelectorError(f"target file {path} holds no non-empty examples; the target set must not be empty")
    return texts


def preflight(cfg: SelectConfig) -> None:
    """Everything that can fail before Spark runs: selector params, model path, target file."""
    sel = cfg.make_selector()
    if sel.input == "embeddings":
        cfg.embed_settings().folder_name()
    if sel.needs_target:
        if not cfg.target:
            raise SelectorError(f"selector '{cfg.selector}' needs `target:` (a file of example documents)")
        read_target(cfg.target)
    resolve_budget(cfg.budget, 2 ** 62)  # type, zero and fraction range; "larger than the corpus" waits for n


# -- the whole selection ---------------------------------------------------------------------------
def run_selection(spark, df, cfg: SelectConfig, run_dir: Path, out: Path) -> tuple[Selection, dict]:
    """Select from df's rows and write out/ (selection.parquet + diagnostics.json) atomically. The selector
    decides: its input kind, whether it has a Spark path (`spark_ready`), and that path (`select_spark`)."""
    preflight(cfg)
    sel = cfg.make_selector()
    target, tasks = read_target(cfg.target) if sel.needs_target else (None, None)
    info: dict = {"selector": cfg.selector, "params": cfg.params, "budget": cfg.budget, "seed": cfg.seed}
    job = SparkJob(spark, df.select("id", "text"), cfg.budget, 0, cfg.sample_rows, target=target, target_tasks=tasks,
                   embed=lambda texts: Embedder(cfg.embed_settings()).embed(texts))
    if sel.input == "embeddings":
        settings = cfg.embed_settings()
        folder = embeddings_folder(run_dir, settings)
        emb = embed_df(spark, df, folder, settings)
        info["embeddings"] = {"folder": str(folder), **{k: v for k, v in emb.items() if k != "keys"}}
        job.folder, job.keys, job.n = folder, emb["keys"], emb["rows"]
        if cfg.use_spark(job.n, sel):
            return _distributed(sel, job, info, out)
        # the shards listed are exactly df's rows, so their ids give the order without another pass
        ids, X = load_embeddings(folder, emb["keys"])
        _check_unique(ids)
        kw = {"target": job.embed(target)} if target is not None else {}
        if sel.uses_target_tasks and target is not None:
            kw["target_tasks"] = tasks
        selection = sel.select(X, cfg.budget, **kw)
    else:
        job.n = df.count()
        if cfg.use_spark(job.n, sel):
            return _distributed(sel, job, info, out)
        if isinstance(sel, TextSelector):  # scores in the workers, the pick in one process
            payload = sel.payload(job)
            rows = score_texts(job.df, sel, payload).collect()
            ids = [r["id"] for r in rows]
            _check_unique(ids)
            selection = sel.pick(np.array([r["score"] for r in rows], np.float64),
                                 resolve_budget(cfg.budget, len(ids)), payload)
        else:
            ids = [r["id"] for r in df.select("id").collect()]
            _check_unique(ids)
            selection = sel.select(ids, cfg.budget)
    write_selection(out, ids, selection, info)
    return selection, info


def _distributed(sel, job: SparkJob, info: dict, out: Path):
    """The selector's own Spark path; the picks are written from the workers."""
    from . import spark_select
    _check_unique_spark(job.df)
    ranked, diag, cached = sel.select_spark(job)
    try:
        diag.update(write_selection_df(out, ranked, info, diag, sel.summary))
    finally:
        if cached is not None:
            cached.unpersist()
    return spark_select.as_selection(diag), info


def _check_unique_spark(df) -> None:
    dup = df.groupBy("id").count().filter("count > 1").limit(1).collect()
    if dup:
        raise SelectorError(f"document ids are not unique (e.g. {dup[0]['id']!r}); selection needs one row per id: "
                            f"add dedup_exact or fix the reader's id_field")


def write_selection_df(out: Path, ranked, info: dict, diag: dict, summary: str = "count") -> dict:
    """Write a ranked selection DataFrame (id, select_rank, select_score, select_weight) from the workers."""
    from . import spark_select
    done: dict = {}

    def write(path: Path) -> dict:
        ranked.write.parquet(str(path))
        done.update(spark_select.summarize(ranked.sparkSession.read.parquet(str(path)), diag["n"],
                                           objective=summary == "objective", mean_score=summary == "mean_score"))
        return {"selected": done["selected"], "diagnostics": {**diag, **done}}

    publish_selection(out, write, info)
    return done


def _check_unique(ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        seen, dup = set(), None
        for d in ids:
            if d in seen:
                dup = d
                break
            seen.add(d)
        raise SelectorError(f"document ids are not unique (e.g. {dup!r}); selection needs one row per id: "
                            f"add dedup_exact or fix the reader's id_field")


def write_selection(out: Path, ids: list[str], selection: Selection, info: dict) -> None:
    """Write a one-process Selection (row numbers into ids)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    idx = selection.indices
    table = pa.table({"id": pa.array([ids[i] for i in idx], pa.string()),
                      "select_rank": pa.array(np.arange(1, len(idx) + 1), pa.int64()),
                      "select_score": pa.array(np.asarray(selection.scores, np.float64)),
                      "select_weight": pa.array(np.asarray(selection.weights, np.float64))})

    def write(path: Path) -> dict:
        pq.write_table(table, path)
        return {"selected": len(idx), "diagnostics": selection.diagnostics}

    publish_selection(out, write, info)


def publish_selection(out: Path, write_parquet, info: dict) -> None:
    """The one writer of a selection folder: selection.parquet (written by write_parquet(path), which returns
    the rest of diagnostics.json) and diagnostics.json into a temporary sibling, then renamed into place, so
    a killed run never leaves a half selection."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    extra = write_parquet(tmp / "selection.parquet")
    (tmp / "diagnostics.json").write_text(json.dumps({**info, **extra}, indent=2, default=_plain) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
