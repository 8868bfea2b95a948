"""Helpers the tests share: documents as a DataFrame, and one stage applied as the runner applies it."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"  # the developers' gold sets; absent on a clone
TEST_DATA = REPO / "tests" / "data"  # small real samples with licence and origin (tests/data/README.md)


def docs_df(spark, rows: list[dict]):
    """A DataFrame shaped like the reader's output from a few hand-written documents."""
    import pyarrow as pa
    base = {"id": None, "text": None, "source": "test", "url": None}
    full = [{**base, **r} for r in rows]
    cols = list(dict.fromkeys(k for r in full for k in r))
    table = pa.Table.from_pylist(full, schema=pa.schema([(c, _arrow_type(full, c)) for c in cols]))
    return spark.createDataFrame(table.to_pandas())


def _arrow_type(rows, col):
    import pyarrow as pa
    vals = [r.get(col) for r in rows if r.get(col) is not None]
    if vals and isinstance(vals[0], bool):
        return pa.bool_()
    if vals and isinstance(vals[0], int):
        return pa.int64()
    if vals and isinstance(vals[0], float):
        return pa.float64()
    return pa.string()


def run_stage(spark, name: str, params: dict, rows_or_df, tmp_path: Path | None = None):
    """Apply one registered stage as the runner does; returns (kept, rejected, stats) as lists of dicts."""
    from gristmill.pipeline.stage import StageContext, get_stage
    cls = get_stage(name)
    df = rows_or_df if hasattr(rows_or_df, "schema") else docs_df(spark, rows_or_df)
    work = Path(tmp_path or "/tmp") / f"stage-{name}"
    work.mkdir(parents=True, exist_ok=True)
    ctx = StageContext(spark=spark, run_dir=work, work_dir=work, stage_dir=work, index=1, name=name,
                       extra={"input_rows": None})
    stage = cls(cls.Config.model_validate(params), ctx)
    stage.check_columns(df.columns)
    kept, rejected, _ = stage.apply(df)
    kept_rows = [r.asDict() for r in kept.collect()]
    rej_rows = [r.asDict() for r in rejected.collect()]
    return kept_rows, rej_rows, stage.stats()


def python_env_docs(sources=("package_license", "python_docs", "package_description")) -> list[dict]:
    """Real text on every machine (the quickstart corpus: this Python's licences, reference docs, READMEs),
    shaped like reader output. Licences repeat across packages, so it holds exact and near duplicates."""
    from gristmill.pipeline.inputs.pkgcorpus import iter_documents
    return [{"id": d["id"], "text": d["text"], "source": d["source"]} for d in iter_documents()
            if d["source"] in sources]
