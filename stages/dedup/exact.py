"""dedup_exact: drop documents whose normalized text hashes equal an earlier one's."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from gristmill.pipeline.rundir import parquet_rows
from gristmill.pipeline.stage import FitStage, StageConfig


class DedupExactConfig(StageConfig):
    scope: Literal["global", "per_source"] = "global"
    keep: Literal["first_id", "longest"] = Field(
        "first_id", description="representative: smallest id, or the longest text (ties: smallest id)")
    normalize: bool = Field(True, description="hash case-folded text with whitespace collapsed")
class DedupExact(FitStage):
    """Find duplicates on a narrow (id, hash) projection, save them, then join the duplicate ids back.

    Sorting whole documents by hash would shuffle every text; the narrow table is ~50 bytes a row and the
    saved duplicates table is usually small enough to broadcast, so the texts never move."""
    name = "dedup_exact"
    Config = DedupExactConfig
    produces = {"duplicate_of": "string"}

    def fit(self, df):
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        text = F.coalesce(F.col("text"), F.lit(""))
        if self.config.normalize:
            text = F.trim(F.regexp_replace(F.lower(text), r"\s+", " "))
        keys = ["_hash"] + (["source"] if self.config.scope == "per_source" else [])
        narrow = df.select("id", "source", F.md5(text).alias("_hash"), F.length("text").alias("_len"))
        order = [F.col("id")] if self.config.keep == "first_id" else [F.col("_len").desc(), F.col("id")]
        w = Window.partitionBy(*keys).orderBy(*order)
        (narrow.withColumn("_rank", F.row_number().over(w))
               .withColumn("_rep", F.first("id").over(w))
               .where(F.col("_rank") > 1)
               .select("id", F.col("_rep").alias("duplicate_of"))
               .write.mode("overwrite").parquet(self.artifact("duplicates")))
        # counted from the Parquet footers: a Spark count() would be two more jobs
        self._removed = parquet_rows(self.ctx.work_dir / "duplicates")

    def tag(self, df):
        from pyspark.sql import functions as F
        out = self.join_artifact(df, "duplicates")
        return out.withColumn("drop_reason", F.when(F.col("duplicate_of").isNotNull(), F.lit("dup:exact")))

    def stats(self):
        return {"scope": self.config.scope, "keep": self.config.keep, "duplicates": self._removed}
