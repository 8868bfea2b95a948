"""decontaminate: find benchmark test items inside documents by word n-gram overlap; drop, cut or mark them.

The method is GPT-3's (Brown et al. 2020, "Language Models are Few-Shot Learners", Appendix C), as Dolma
and NeMo Curator 0.9 use it: 13-grams of normalized words (`ngram`), an item shorter than that matched whole,
n-grams frequent in ordinary text ignored (`max_ngram_docs` over the documents of `reference`), and either the
whole document dropped or the matching span cut with `cut_margin_chars` (GPT-3: 200) characters either side,
a document split into more than `max_pieces` (GPT-3: 10) pieces dropped, pieces under `min_piece_chars`
(Curator: 200) removed. Where we differ, and why: the pieces of a cut document stay one document (joined by a
blank line) so ids stay stable; the default action is `drop` (GPT-3's first choice), `cut` gives the
published splitting; `reference` is off by default because counting n-grams on the corpus being cleaned
(GPT-3/Curator's `max_matches`) lets a benchmark copied many times hide itself; point it at a sample of clean
web text (or `input` for the published behaviour).

Test sets ship with gristmill (stages/decontaminate/data/benchmarks.json gives source, version, licence and
sha256): `gsm8k` (test), `humaneval`, `mmlu` (test), `arc_easy` and `arc_challenge` (test) and `hellaswag`
(validation); a user adds jsonl files (`question`, `answer`, optional `passage`
and `id`) under `custom`. Every matched span is recorded in `decon_matches` (benchmark, item id, character
start and end in the text the stage received), `contaminated` marks the document, and stats.json holds, per
benchmark, the items found and documents affected (`gristmill inspect RUN contamination`). Place the stage
after `rephrase` too: a synthetic row that copies a test item is caught like any other.
"""
from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import Field, field_validator, model_validator

from gristmill.pipeline.stage import DROP_REASON, FILE, FitStage, StageConfig, StageError, merge_batch, worker_cached

from .index import Index, bundled, char_spans, load_bundled, load_file, match_batch, merge_spans

MATCH_TYPE = "array<struct<benchmark:string,item:string,start:int,end:int>>"
CUT_TYPE = "array<struct<start:int,end:int,text:string>>"
TOO_MANY_CUTS = "decon:too_many_cuts"
NOTHING_LEFT = "decon:nothing_left"


class DecontaminateConfig(StageConfig):
    benchmarks: list[str] = Field(default_factory=lambda: sorted(bundled()),
                                  description="shipped test sets to match (all by default)")
    custom: dict[str, str] = Field(default_factory=dict, json_schema_extra=FILE,
                                   description="name -> jsonl(.gz) of your own items: question, answer, "
                                               "optional passage and id")
    ngram: int = Field(13, ge=3, le=64, description="words per n-gram (GPT-3, Dolma: 13)")
    min_item_words: int = Field(8, ge=1, description="items shorter than `ngram` words must match whole; "
                                                     "items shorter than this are not indexed")
    action: Literal["drop", "cut", "mark"] = Field("drop", description="drop the document, cut the matched "
                                                                       "spans, or only mark it")
    cut_margin_chars: int = Field(200, ge=0, description="cut: characters removed either side of a match")
    max_pieces: int = Field(10, ge=1, description="cut: a document split into more pieces is dropped (GPT-3: 10)")
    min_piece_chars: int = Field(200, ge=0, description="cut: shorter pieces left between cuts are removed")
    reference: str | None = Field(None, description="text whose n-gram frequency decides what is too common to "
                                                    "count: `input` (this corpus, as GPT-3/Curator) or a jsonl, "
                                                    "Parquet or txt path with a `text` column; null: none")
    max_ngram_docs: int = Field(10, ge=1, description="index n-grams in more documents of `reference` are ignored")

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, v):
        unknown = sorted(set(v) - set(bundled()))
        if unknown:
            raise ValueError(f"unknown benchmark(s) {unknown}; shipped: {sorted(bundled())}; add your own "
                             "under `custom: {name: path.jsonl}`")
        return v

    @model_validator(mode="after")
    def _names(self):
        clash = sorted(set(self.custom) & set(self.benchmarks))
        if clash:
            raise ValueError(f"custom benchmark name(s) {clash} clash with shipped ones; rename them")
        if not self.benchmarks and not self.custom:
            raise ValueError("no benchmarks: list shipped ones under `benchmarks` or add `custom` files")
        return self


def build(cfg: DecontaminateConfig) -> Index:
    from .index import build_index
    sets = {name: load_bundled(name) for name in cfg.benchmarks}
    for name, path in cfg.custom.items():
        try:
            sets[name] = load_file(path, name)
        except OSError as e:
            raise StageError(f"decontaminate.custom.{name}: cannot read {path} ({e})") from None
        except ValueError as e:
            raise StageError(str(e)) from None
    return build_index(sets, cfg.ngram, cfg.min_item_words)


def _index_key(index: Index) -> str:
    return hashlib.sha1(index.hashes.tobytes()).hexdigest()


def _matcher(bc, key: str):
    """(index, token hasher) once per Python worker: the broadcast is read once, not per task."""
    from .normalization import TokenHasher
    return worker_cached(("decontaminate", key), lambda: (bc.value, TokenHasher()))


def _match_rows(bc, key: str, batches):
    """mapInArrow body: only documents with a match come out, with their merged spans."""
    import pyarrow as pa
    index, hasher = _matcher(bc, key)
    struct = pa.struct([("benchmark", pa.string()), ("item", pa.string()), ("start", pa.int32()),
                        ("end", pa.int32())])
    for batch in batches:
        texts = batch.column("text").to_pylist()
        hits = match_batch(index, texts, hasher)
        ids, matches = [], []
        for doc_id, text, h in zip(batch.column("id").to_pylist(), texts, hits):
            if h:
                spans = char_spans(text, merge_spans(h))
                ids.append(doc_id)
                matches.append([{"benchmark": index.items[i][0], "item": index.items[i][1], "start": s, "end": e}
                                for i, s, e in spans])
        yield pa.RecordBatch.from_arrays([pa.array(ids, pa.string()), pa.array(matches, pa.list_(struct))],
                                         names=["id", "decon_matches"])


def _ngram_rows(bc, key: str, batches):
    """mapInArrow body for `reference`: each index n-gram hash a document contains, once per document."""
    import numpy as np
    import pyarrow as pa

    from .normalization import ngram_hashes, tokens
    index, hasher = _matcher(bc, key)
    for batch in batches:
        found = []
        for text in batch.column("text").to_pylist():
            th = hasher(tokens(text))
            for k in index.lengths:
                h = np.unique(ngram_hashes(th, k))
                found.append(h[index.lookup(h) >= 0])
        allh = np.concatenate(found) if found else np.empty(0, np.uint64)
        yield pa.RecordBatch.from_arrays([pa.array(allh.view(np.int64), pa.int64())], names=["h"])


def cut_text(text: str, spans: list[tuple[int, int]], margin: int, min_piece: int) -> tuple[str, list[dict], int]:
    """Remove each span with `margin` characters either side (widened to the nearest whitespace so no word is
    split), drop the pieces left shorter than `min_piece`, and join the rest with a blank line.
    Returns (new text, what was removed as {start, end, text} in the original, number of pieces cut apart).

    >>> t = "a" * 8 + " KEEP " + "x" * 5 + " TEST ITEM " + "y" * 5 + " KEEP " + "b" * 8
    >>> new, removed, pieces = cut_text(t, [(t.index("TEST"), t.index("ITEM") + 4)], margin=3, min_piece=5)
    >>> new, [r["text"] for r in removed], pieces
    ('aaaaaaaa KEEP\\n\\nKEEP bbbbbbbb', ['xxxxx TEST ITEM yyyyy'], 2)
    """
    cuts: list[list[int]] = []
    for s, e in sorted(spans):
        s, e = max(0, s - margin), min(len(text), e + margin)
        while s > 0 and not text[s - 1].isspace():
            s -= 1
        while e < len(text) and not text[e].isspace():
            e += 1
        if cuts and s <= cuts[-1][1]:
            cuts[-1][1] = max(cuts[-1][1], e)
        else:
            cuts.append([s, e])
    pieces, removed, prev = [], [], 0
    for s, e in cuts + [[len(text), len(text)]]:
        piece = text[prev:s]
        if len(piece.strip()) >= max(min_piece, 1):
            pieces.append(piece.strip())
        elif piece:
            removed.append({"start": prev, "end": s, "text": piece})
        if e > s:
            removed.append({"start": s, "end": e, "text": text[s:e]})
        prev = e
    removed.sort(key=lambda r: r["start"])
    return "\n\n".join(pieces), removed, len(cuts) + 1


def _cut_rows(cfg_json: str, batches):
    """mapInArrow body for action `cut`: rewrite the text of documents with matches."""
    import pyarrow as pa

    cfg = DecontaminateConfig.model_validate_json(cfg_json)
    cut_struct = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("text", pa.string())])
    for batch in batches:
        texts = batch.column("text").to_pylist()
        new_texts, cuts, reasons = [], [], []
        for text, matches in zip(texts, batch.column("decon_matches").to_pylist()):
            if not matches:
                new_texts.append(text)
                cuts.append(None)
                reasons.append(None)
                continue
            new, removed, pieces = cut_text(text, [(m["start"], m["end"]) for m in matches],
                                            cfg.cut_margin_chars, cfg.min_piece_chars)
            reason = TOO_MANY_CUTS if pieces > cfg.max_pieces else (NOTHING_LEFT if not new else None)
            new_texts.append(text if reason else new)  # rejected rows keep their text, to show what was there
            cuts.append(removed)
            reasons.append(reason)
        yield merge_batch(batch, {"text": pa.array(new_texts, pa.string()),
                                    "decon_cuts": pa.array(cuts, pa.list_(cut_struct)),
                                    DROP_REASON: pa.array(reasons, pa.string())})


class Decontaminate(FitStage):
    name = "decontaminate"
    Config = DecontaminateConfig
    rewrites_text = True  # with action `cut`
    text_records = ("decon_cuts",)  # what went, with its offsets
    drop_reasons = ("decon:<benchmark>", TOO_MANY_CUTS, NOTHING_LEFT)

    def __init__(self, config, ctx=None):
        super().__init__(config, ctx)
        self._stats: dict = {}

    def produced_columns(self):
        cols = {"contaminated": "boolean", "decon_matches": MATCH_TYPE}
        if self.config.action == "cut":
            cols.update({"text": "string", "decon_cuts": CUT_TYPE})
        return cols

    def files(self) -> list[str]:
        """Custom items, the reference text and the shipped test sets used: their bytes enter the stage hash."""
        from importlib import resources

        from .index import DATA
        ref = self.config.reference
        shipped = [str(resources.files(DATA) / "data" / bundled()[b]["file"]) for b in self.config.benchmarks]
        return super().files() + shipped + ([ref] if ref and ref != "input" else [])

    def preflight(self) -> None:
        build(self.config)  # a bad custom file fails before Spark starts

    def _reference_frequent(self, spark, bc, key):
        from pyspark.sql import functions as F
        ref = self.config.reference
        if ref == "input":
            df = self._input
        else:
            from gristmill.pipeline.storage import spark_uri
            fmt = "parquet" if ref.endswith(".parquet") or not ref.rsplit("/", 1)[-1].count(".") else (
                "text" if ref.endswith(".txt") else "json")
            df = getattr(spark.read, fmt)(spark_uri(ref))
            if fmt == "text":
                df = df.withColumnRenamed("value", "text")
            if "text" not in df.columns:
                raise StageError(f"decontaminate.reference {ref} has no `text` column; columns: {df.columns}")
        rows = (df.select("text").mapInArrow(lambda it: _ngram_rows(bc, key, it), "h long")
                  .groupBy("h").count().where(F.col("count") > self.config.max_ngram_docs).collect())
        import numpy as np
        return np.array([r["h"] for r in rows], dtype=np.int64).view(np.uint64)  # at most the index's size

    def fit(self, df) -> None:
        from pyspark.sql import functions as F
        spark = self.ctx.spark
        self._input = df
        index = build(self.config)
        if self.config.reference:
            bc = spark.sparkContext.broadcast(index)
            index = index.without(self._reference_frequent(spark, bc, _index_key(index)))
            bc.unpersist()
        bc = spark.sparkContext.broadcast(index)
        key = _index_key(index)
        matches = self.save_artifact(df.select("id", "text").mapInArrow(
            lambda it: _match_rows(bc, key, it), f"id string, decon_matches {MATCH_TYPE}"), "matches")
        per = (matches.select("id", F.explode("decon_matches").alias("m"))
                      .groupBy(F.col("m.benchmark").alias("benchmark"))
                      .agg(F.countDistinct("m.item").alias("items_found"), F.countDistinct("id").alias("docs"))
                      .collect())
        found = {r["benchmark"]: (int(r["items_found"]), int(r["docs"])) for r in per}
        totals = index.stats["benchmarks"]
        self._stats = {
            "action": self.config.action, "ngram": self.config.ngram, "index_ngrams": int(len(index.hashes)),
            "ngrams_ignored_frequent": index.stats.get("ngrams_ignored_frequent", 0),
            "docs_contaminated": matches.count(),
            "contamination": {b: {"items": t["items"], "items_indexed": t["indexed"],
                                  "items_found": found.get(b, (0, 0))[0], "docs_affected": found.get(b, (0, 0))[1]}
                              for b, t in totals.items()},
        }

    def tag(self, df):
        from pyspark.sql import functions as F
        base = df.drop(*[c for c in ("contaminated", "decon_matches", "decon_cuts", DROP_REASON) if c in df.columns])
        out = self.join_artifact(base, "matches").withColumn("contaminated", F.col("decon_matches").isNotNull())
        action = self.config.action
        if action == "drop":
            return out.withColumn(DROP_REASON, F.when(F.col("contaminated"), F.concat(
                F.lit("decon:"), F.col("decon_matches")[0]["benchmark"])))
        if action == "mark":
            return out.withColumn(DROP_REASON, F.lit(None).cast("string"))
        from pyspark.sql.types import StructField, StructType, _parse_datatype_string
        schema = StructType(out.schema.fields + [StructField("decon_cuts", _parse_datatype_string(CUT_TYPE)),
                                                 StructField(DROP_REASON, _parse_datatype_string("string"))])
        cfg = self.config.model_dump_json()
        return out.mapInArrow(lambda it: _cut_rows(cfg, it), schema)

    def stats(self) -> dict:
        return dict(self._stats)
