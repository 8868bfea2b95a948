"""select: pick a subset of the documents; the rest go to rejected as `select:<selector>`.

fit() embeds (or scores) the documents and writes selection/ under the stage folder; tag() joins the
chosen ids back to the documents inside Spark."""
from __future__ import annotations

from gristmill.pipeline.rundir import RunDir
from gristmill.pipeline.stage import FitStage

from ..selectors.run_select import SelectConfig, preflight, run_selection


class Select(FitStage):
    name = "select"
    Config = SelectConfig
    produces = {"select_rank": "bigint", "select_score": "double", "select_weight": "double"}

    def preflight(self) -> None:
        preflight(self.config)

    def fit(self, df) -> None:
        self.out = RunDir.stage_selection(self.ctx.work_dir)
        self.selection, self.info = run_selection(self.ctx.spark, df, self.config, self.ctx.run_dir, self.out)

    def tag(self, df):
        from pyspark.sql import functions as F
        chosen = self.ctx.spark.read.parquet(str(self.out / "selection.parquet"))
        df = df.drop(*[c for c in self.produces if c in df.columns])
        out = df.join(chosen, on="id", how="left")
        reason = F.when(F.col("select_rank").isNull(), F.lit(f"select:{self.config.selector}"))
        return out.withColumn("drop_reason", reason.cast("string"))

    def stats(self) -> dict:
        diag = self.selection.diagnostics
        keep = ("objective", "objective_per_doc", "removed_fraction", "kept_after_dedup", "budget_unmet")
        return {"selector": self.config.selector, "selected": diag.get("selected", len(self.selection)),
                "selection": str(RunDir.stage_selection(self.ctx.stage_dir)),
                **{k: diag[k] for k in keep if k in diag},
                **({"embeddings": self.info["embeddings"]} if "embeddings" in self.info else {})}
