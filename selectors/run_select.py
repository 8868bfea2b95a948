"""One selection over a Spark DataFrame of documents, shared by the `select` stage and `gristmill select`.

Embedding selectors get their matrix from shards the workers wrote; text selectors (DSIR, ZIP-FIT) score
documents inside the workers. Only ids, scores and vectors reach the driver, never document text."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from gristmill.pipeline.inputs.examples import read_texts
from gristmill.pipeline.stage import FILE, StageConfig, StageError

from .base import Selection, SelectorError, check_embeddings, get_selector, known_selectors, resolve_budget
from .embed import Embedder, EmbedSettings, load_embeddings
from .spark_embed import embed_df, embeddings_folder


class SelectConfig(StageConfig):
    selector: str = Field("facility_location", description="a selector name: facility_location, semdedup, d4, dsir, zipfit, target_knn, random, "
                                                       "or one a plugin registers")
    budget: int | float = Field(..., description="documents to keep: a count, or a fraction in (0, 1]")
    params: dict[str, Any] = Field(default_factory=dict, description="selector parameters (see its class)")
    target: str | None = Field(None, description="jsonl/parquet/txt file of target examples (dsir, zipfit, "
                                                  "target_knn)", json_schema_extra=FILE)
    seed: int = 0
    model_path: str | None = Field(None, description="sentence-transformers folder; default all-MiniLM-L6-v2")
    max_tokens: int = Field(256, ge=8)
    long_docs: str = Field("first", pattern="^(first|mean)$")
    batch_size: int = Field(32, ge=1)
    distributed: bool | Literal["auto"] = Field(
        "auto", description="select as Spark jobs (the driver holds centroids and counts, never every vector, id "
                            "or score); auto: when the corpus has more than `driver_rows` documents")
    driver_rows: int = Field(1_000_000, ge=1, description="largest corpus selected in one process under `auto`")
    sample_rows: int = Field(200_000, ge=1, description="vectors the driver samples for k-means centroids "
                                                         "(distributed facility location, semdedup and d4)")

    @field_validator("selector")
    @classmethod
    def _known(cls, v):
        if v not in known_selectors():
            raise ValueError(f"unknown selector {v!r}; known: {', '.join(known_selectors())}")
        return v

    def embed_settings(self) -> EmbedSettings:
        return EmbedSettings(model_path=self.model_path, max_tokens=self.max_tokens, long_docs=self.long_docs,
                             batch_size=self.batch_size)

    def use_spark(self, n: int, selector) -> bool:
        """Distributed when asked (or past driver_rows under auto) and the selector has a Spark path."""
        if not _has_spark_path(selector):
            if self.distributed is True:
                raise SelectorError(f"selector '{selector.name}' with these parameters has no distributed path yet; "
                                    f"set `distributed: false` (it then runs in one process on the driver)")
            return False
        return self.distributed is True or (self.distributed == "auto" and n > self.driver_rows)

    def make_selector(self):
        return get_selector(self.selector, **{"seed": self.seed, **self.params})


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
        read_target_texts(cfg.target)
    resolve_budget(cfg.budget, 2 ** 62)  # type, zero and fraction range; "larger than the corpus" waits for n


# -- text selectors inside Spark -------------------------------------------------------------------
def _dsir_counts(buckets: int):
    def fn(batches):
        import pyarrow as pa

        from .dsir import ngram_counts
        total = np.zeros(buckets)
        for b in batches:
            if b.num_rows:
                total += np.asarray(ngram_counts(b.column("text").to_pylist(), buckets).sum(axis=0)).ravel()
        yield pa.RecordBatch.from_pydict({"counts": [total.tobytes()]})
    return fn


def _score_fn(kind: str, payload: dict):
    def fn(batches):
        import pyarrow as pa
        for b in batches:
            if not b.num_rows:
                continue
            texts = b.column("text").to_pylist()
            if kind == "dsir":
                from .dsir import log_weights, ngram_counts
                score = log_weights(ngram_counts(texts, payload["buckets"]), payload["ratio"])
            else:
                from .zipfit import alignment
                score = alignment(texts, payload["target"], payload["max_chars"])
            yield pa.RecordBatch.from_pydict({"id": b.column("id"), "score": pa.array(score, pa.float64())})
    return fn


def _text_scores(spark, df, sel, target: list[str]):
    from .dsir import log_ratio, ngram_counts
    docs = df.select("id", "text")
    if sel.name == "dsir":
        parts = docs.mapInArrow(_dsir_counts(sel.buckets), "counts binary").collect()
        raw = sum(np.frombuffer(r["counts"]) for r in parts)
        tgt = np.asarray(ngram_counts(target, sel.buckets).sum(axis=0)).ravel()
        payload = {"buckets": sel.buckets, "ratio": log_ratio(tgt, raw, sel.alpha)}
    else:
        payload = {"target": sel.target_sample(target), "max_chars": sel.max_chars}
    rows = docs.mapInArrow(_score_fn(sel.name, payload), "id string, score double").collect()
    return [r["id"] for r in rows], np.array([r["score"] for r in rows], np.float64), payload


def _has_spark_path(sel) -> bool:
    if sel.name == "facility_location":
        return sel.graphs == "partition" and not sel.merge and sel.sampling == "top"
    return sel.name in ("random", "dsir", "zipfit", "semdedup", "d4", "target_knn")


# -- the whole selection ---------------------------------------------------------------------------
def run_selection(spark, df, cfg: SelectConfig, run_dir: Path, out: Path) -> tuple[Selection, dict]:
    """Select from df's rows and write out/ (selection.parquet + diagnostics.json) atomically."""
    preflight(cfg)
    sel = cfg.make_selector()
    target = read_target_texts(cfg.target) if sel.needs_target else None
    info: dict = {"selector": cfg.selector, "params": cfg.params, "budget": cfg.budget, "seed": cfg.seed}
    if sel.input == "embeddings":
        settings = cfg.embed_settings()
        folder = embeddings_folder(run_dir, settings)
        emb = embed_df(spark, df, folder, settings)
        info["embeddings"] = {"folder": str(folder), **{k: v for k, v in emb.items() if k != "keys"}}
        if cfg.use_spark(emb["rows"], sel):
            return _spark_embeddings(spark, df, cfg, sel, folder, emb, target, info, out)
        # the shards listed are exactly df's rows, so their ids give the order without another pass
        ids, X = load_embeddings(folder, emb["keys"])
        _check_unique(ids)
        T = Embedder(settings).embed(target) if target is not None else None
        selection = sel.select(X, cfg.budget, target=T)
    elif cfg.use_spark(df.count(), sel):
        return _spark_scores(spark, df, cfg, sel, target, info, out)
    elif sel.input == "texts":
        ids, scores, payload = _text_scores(spark, df, sel, target)
        _check_unique(ids)
        b = resolve_budget(cfg.budget, len(ids))
        selection = (sel.resample(scores, b, len(target)) if sel.name == "dsir"
                     else sel.rank(scores, b, len(payload["target"])))
    else:
        ids = [r["id"] for r in df.select("id").collect()]
        _check_unique(ids)
        selection = sel.select(ids, cfg.budget)
    write_selection(out, ids, selection, info)
    return selection, info


def _spark_embeddings(spark, df, cfg, sel, folder, emb, target, info, out):
    """Embedding selectors as Spark jobs over the shards: the driver holds centroids, targets and counts."""
    from . import spark_select, spark_semdedup
    _check_unique_spark(df)
    args = (spark, sel, folder, emb["keys"], emb["rows"], cfg.budget)
    if sel.name == "facility_location":
        ranked, diag, cached = spark_select.facility_location(*args, cfg.sample_rows)
    elif sel.name in ("semdedup", "d4"):
        ranked, diag, cached = getattr(spark_semdedup, sel.name)(*args, cfg.sample_rows)
    else:
        T = check_embeddings(Embedder(cfg.embed_settings()).embed(target), what="target embeddings")
        ranked, diag, cached = spark_select.target_knn(spark, sel, T, *args[2:])
    try:
        diag.update(write_selection_df(out, ranked, info, diag))
    finally:
        cached.unpersist()
    return spark_select.as_selection(diag), info


def _spark_scores(spark, df, cfg, sel, target, info, out):
    """random, DSIR and ZIP-FIT: scores in the workers, a distributed top-k."""
    from pyspark.sql import functions as F

    from . import spark_select
    from .dsir import ngram_counts
    _check_unique_spark(df)
    n = df.count()
    b = resolve_budget(cfg.budget, n)
    docs = df.select("id", "text")
    diag: dict = {"n": n, "budget": b, "distributed": True}
    if sel.name == "random":
        ranked = spark_select.top_k(df.select("id").mapInArrow(spark_select.random_keys(cfg.seed), "id string, score double"), b)
        diag["seed"] = cfg.seed
    else:
        if sel.name == "dsir":
            parts = docs.mapInArrow(_dsir_counts(sel.buckets), "counts binary")
            raw = parts.rdd.map(lambda r: np.frombuffer(r["counts"])).reduce(lambda a, c: a + c)  # one vector
            tgt = np.asarray(ngram_counts(target, sel.buckets).sum(axis=0)).ravel()
            from .dsir import log_ratio
            payload = {"buckets": sel.buckets, "ratio": log_ratio(tgt, raw, sel.alpha)}
        else:
            payload = {"target": sel.target_sample(target), "max_chars": sel.max_chars}
        scored = docs.mapInArrow(_score_fn(sel.name, payload), "id string, score double").persist()
        if sel.name == "dsir":
            keyed = scored.mapInArrow(spark_select.gumbel_keys(cfg.seed), "id string, score double, key double")
            ranked = spark_select.top_k(keyed, b, key="key")
        else:
            ranked = spark_select.top_k(scored, b)
        diag["target_size"] = len(payload.get("target", target))
        diag["mean_score_all"] = float(scored.agg(F.mean("score")).collect()[0][0])
        scored.unpersist()
    diag.update(write_selection_df(out, ranked, info, diag))
    return spark_select.as_selection(diag), info


def _check_unique_spark(df) -> None:
    dup = df.groupBy("id").count().filter("count > 1").limit(1).collect()
    if dup:
        raise SelectorError(f"document ids are not unique (e.g. {dup[0]['id']!r}); selection needs one row per id: "
                            f"add dedup_exact or fix the reader's id_field")


def write_selection_df(out: Path, ranked, info: dict, diag: dict) -> dict:
    """Write a ranked selection DataFrame (id, select_rank, select_score, select_weight) from the workers."""
    from . import spark_select
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    ranked.write.parquet(str(tmp / "selection.parquet"))
    done = spark_select.summarize(ranked.sparkSession.read.parquet(str(tmp / "selection.parquet")), diag["n"],
                                  objective=info["selector"] == "facility_location",
                                  mean_score=info["selector"] in ("target_knn", "semdedup", "d4"))
    (tmp / "diagnostics.json").write_text(json.dumps({**info, "selected": done["selected"],
                                                      "diagnostics": {**diag, **done}}, indent=2, default=_plain) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
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
    import pyarrow as pa
    import pyarrow.parquet as pq
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    idx = selection.indices
    table = pa.table({"id": pa.array([ids[i] for i in idx], pa.string()),
                      "select_rank": pa.array(np.arange(1, len(idx) + 1), pa.int64()),
                      "select_score": pa.array(np.asarray(selection.scores, np.float64)),
                      "select_weight": pa.array(np.asarray(selection.weights, np.float64))})
    pq.write_table(table, tmp / "selection.parquet")
    diag = {**info, "selected": len(idx), "diagnostics": selection.diagnostics}
    (tmp / "diagnostics.json").write_text(json.dumps(diag, indent=2, default=_plain) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
