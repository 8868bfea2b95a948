"""length: keep documents whose character and word counts are within bounds."""
from __future__ import annotations

from pydantic import Field, model_validator

from gristmill.pipeline.stage import Stage, StageConfig


class LengthConfig(StageConfig):
    min_chars: int = Field(1, ge=0)
    max_chars: int | None = Field(None, ge=1)
    min_words: int = Field(0, ge=0)
    max_words: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounds(self):
        if self.max_chars is not None and self.max_chars < self.min_chars:
            raise ValueError("max_chars is smaller than min_chars")
        if self.max_words is not None and self.max_words < self.min_words:
            raise ValueError("max_words is smaller than min_words")
        return self
class Length(Stage):
    """Pure Spark SQL (no Python workers): chars via length(), words via whitespace split."""
    name = "length"
    Config = LengthConfig
    produces = {"n_chars": "int", "n_words": "int"}

    def transform(self, df):
        from pyspark.sql import functions as F
        c = self.config
        text = F.coalesce(F.col("text"), F.lit(""))
        df = df.withColumn("n_chars", F.length(text))
        blank = F.when(F.trim(text) == "", 1).otherwise(0)
        df = df.withColumn("n_words", F.size(F.split(F.trim(text), r"\s+")) - blank)
        reason = F.lit(None).cast("string")
        rules = [
            (c.max_words is not None and F.col("n_words") > F.lit(c.max_words or 0), "length:too_many_words"),
            (c.min_words > 0 and F.col("n_words") < c.min_words, "length:too_few_words"),
            (c.max_chars is not None and F.col("n_chars") > F.lit(c.max_chars or 0), "length:too_long"),
            (F.col("n_chars") < c.min_chars, "length:too_short"),
        ]
        for cond, name in rules:  # applied in reverse so the first rule listed wins
            if cond is not False:
                reason = F.when(cond, F.lit(name)).otherwise(reason)
        return df.withColumn("drop_reason", reason)
