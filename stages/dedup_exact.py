"""dedup_exact: drop documents whose normalized text hashes equal an earlier one's."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from gristmill.pipeline.stage import FitStage, StageConfig, register


class DedupExactConfig(StageConfig):
    scope: Literal["global", "per_source"] = "global"
    keep: Literal["first_id", "longest"] = Field(
        "first_id", description="representative: smallest id, or the longest text (ties: smallest id)")
    normalize: bool = Field(True, description="hash case-folded text with whitespace collapsed")


@register
class DedupExact(FitStage):
    """A window over (scope, hash) picks the representative; everything stays inside Spark."""
    name = "dedup_exact"
    Config = DedupExactConfig
    produces = {"text_hash": "string", "duplicate_of": "string"}

    def fit(self, df):
        pass  # the window in tag() is the whole computation; nothing to persist

    def tag(self, df):
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        text = F.coalesce(F.col("text"), F.lit(""))
        if self.config.normalize:
            text = F.trim(F.regexp_replace(F.lower(text), r"\s+", " "))
        df = df.withColumn("text_hash", F.sha2(text, 256).substr(1, 32))
        keys = ["text_hash"] + (["source"] if self.config.scope == "per_source" else [])
        order = [F.col("id")]
        if self.config.keep == "longest":
            order = [F.length("text").desc(), F.col("id")]
        w = Window.partitionBy(*keys).orderBy(*order)
        df = df.withColumn("_rep", F.first("id").over(w.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
        df = df.withColumn("duplicate_of", F.when(F.col("_rep") != F.col("id"), F.col("_rep")))
        return (df.withColumn("drop_reason", F.when(F.col("duplicate_of").isNotNull(), F.lit("dup:exact")))
                  .drop("_rep"))

    def stats(self):
        return {"scope": self.config.scope}
