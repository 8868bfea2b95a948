"""dedup_lines: remove boilerplate lines that repeat across many documents (menus, footers, cookie notes).

The method is CCNet's line deduplication (Wenzek et al. 2020, "CCNet", §3.1): lines are compared after
normalization (leading/trailing whitespace including tabs and \r trimmed, lower case, whitespace collapsed,
digits mapped to 0, so "Copyright 2019" and "Copyright 2020" count as one line), and a repeated line is
removed from every document. Blank lines are never counted.

Defaults, and where they depart from CCNet: CCNet removes a line seen in any two documents of a shard,
whatever its length; on code and on documents with headings that deletes `}`, `return 0;`, `else:` and
section titles ("References") from every file. So by default a line counts only if it has at least
`min_line_words` (3) words with a letter and appears in at least `min_docs` (10) documents: menus, cookie
and copyright lines still go, short structural lines stay. `min_docs: 2, min_line_words: 0` is CCNet's rule.
Like CCNet and Dolma's paragraph dedup, this is meant for web text: repeated multi-word code lines
(`import numpy as np`) would still count, so run code corpora through exact/near dedup instead.
A document that loses lines is kept if at least `min_remaining_chars` characters and
`min_remaining_fraction` of its characters remain; otherwise it goes to rejected as `dup:lines` with
its original text. Counting happens in Spark with hashed lines (xxhash64); artifacts under the stage
folder: repeated_lines/ (hash, doc count, a sample line) and removals/ (per document line positions).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from gristmill.pipeline.stage import DROP_REASON, FitStage, StageConfig


class DedupLinesConfig(StageConfig):
    min_docs: int = Field(10, ge=2, description="a line in at least this many documents is boilerplate")
    min_line_words: int = Field(3, ge=0, description="lines with fewer words containing a letter are never "
                                                     "removed (`}`, `return 0;`, titles); 0: CCNet")
    min_line_chars: int = Field(1, ge=1, description="shorter (normalized) lines are never removed")
    normalize: bool = Field(True, description="lower-case, collapse whitespace, digits -> 0 before comparing")
    min_remaining_chars: int = Field(50, ge=0, description="drop a changed doc left with fewer characters")
    min_remaining_fraction: float = Field(0.1, ge=0, le=1, description="drop a changed doc left with less "
                                                                       "than this share of its characters")
    scope: Literal["global", "per_source"] = "global"
    top_lines: int = Field(10, ge=0, description="most repeated lines listed in stats.json")
class DedupLines(FitStage):
    name = "dedup_lines"
    Config = DedupLinesConfig
    rewrites_text = True  # removed lines are counted per document
    text_records = ("lines_removed",)
    produces = {"lines_removed": "int", "chars_removed": "int"}

    def __init__(self, config, ctx=None):
        super().__init__(config, ctx)
        self._stats: dict = {}

    def required_columns(self):
        return ("id", "text") + (("source",) if self.config.scope == "per_source" else ())

    def _lines(self, df):
        """One row per non-blank line: id, pos (0-based), line, key (hash of the normalized line)."""
        from pyspark.sql import functions as F
        cfg = self.config
        scope = [F.coalesce(F.col("source"), F.lit("")).alias("_scope")] if cfg.scope == "per_source" else []
        rows = df.select("id", *scope, F.posexplode(F.split(F.coalesce(F.col("text"), F.lit("")), "\n"))
                         .alias("pos", "line"))
        norm = F.regexp_replace(F.col("line"), r"^\s+|\s+$", "")  # \s: tabs and \r too, not only spaces
        if cfg.normalize:
            norm = F.regexp_replace(F.regexp_replace(F.lower(norm), r"\s+", " "), r"[0-9]", "0")
        rows = rows.withColumn("_norm", norm).where(F.length("_norm") >= cfg.min_line_chars)
        if cfg.min_line_words > 0:
            words = F.expr("size(filter(split(_norm, '\\\\s+'), w -> w rlike '\\\\p{L}'))")
            rows = rows.where(words >= cfg.min_line_words)
        key_cols = ([F.col("_scope")] if scope else []) + [F.col("_norm")]
        return rows.withColumn("key", F.xxhash64(*key_cols)).drop("_norm")

    def fit(self, df) -> None:
        from pyspark.sql import functions as F
        cfg = self.config
        lines = self._lines(df)
        repeated = self.save_artifact(
            lines.groupBy("key").agg(F.countDistinct("id").alias("docs"), F.min("line").alias("sample"))
                 .where(F.col("docs") >= cfg.min_docs), "repeated_lines")
        # +1: the newline that goes with the removed line
        removals = self.save_artifact(
            lines.join(repeated.select("key"), "key")
                 .groupBy("id").agg(F.collect_list("pos").alias("removed_pos"),
                                    F.count("*").alias("lines_removed"),
                                    F.sum(F.length("line") + 1).cast("int").alias("chars_removed")),
            "removals")
        tot = removals.agg(F.count("*").alias("docs"), F.sum("lines_removed").alias("lines"),
                           F.sum("chars_removed").alias("chars")).first()
        rep = repeated.agg(F.count("*").alias("n")).first()
        top = repeated.orderBy(F.col("docs").desc(), F.col("key")).limit(cfg.top_lines).collect()
        self._stats = {
            "min_docs": cfg.min_docs, "scope": cfg.scope,
            "repeated_lines": int(rep["n"]),
            "docs_changed": int(tot["docs"]),
            "lines_removed": int(tot["lines"] or 0),
            "chars_removed": int(tot["chars"] or 0),
            "top_repeated": [{"line": r["sample"][:120], "docs": int(r["docs"])} for r in top],
        }

    def tag(self, df):
        from pyspark.sql import functions as F
        cfg = self.config
        base = df.drop(*[c for c in ("lines_removed", "chars_removed", DROP_REASON) if c in df.columns])
        out = self.join_artifact(base, "removals")
        kept_text = F.expr("array_join(filter(split(coalesce(text, ''), '\\n'), "
                           "(l, i) -> NOT array_contains(removed_pos, i)), '\\n')")
        cleaned = F.when(F.col("removed_pos").isNull(), F.col("text")).otherwise(
            F.regexp_replace(kept_text, r"^\s+|\s+$", ""))
        out = out.withColumn("_clean", cleaned)
        total = F.length(F.coalesce(F.col("text"), F.lit("")))
        left = F.length(F.coalesce(F.col("_clean"), F.lit("")))
        too_little = (F.col("removed_pos").isNotNull()
                      & ((left < cfg.min_remaining_chars) | (left < total * F.lit(cfg.min_remaining_fraction))))
        out = out.withColumn(DROP_REASON, F.when(too_little, F.lit("dup:lines")))
        # rejected rows keep their original text, so one can see what was there
        out = out.withColumn("text", F.when(too_little, F.col("text")).otherwise(F.col("_clean")))
        return (out.withColumn("lines_removed", F.coalesce(F.col("lines_removed"), F.lit(0)).cast("int"))
                   .withColumn("chars_removed", F.coalesce(F.col("chars_removed"), F.lit(0)).cast("int"))
                   .drop("removed_pos", "_clean"))

    def stats(self):
        return dict(self._stats)
