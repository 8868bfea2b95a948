"""Where documents come from, for every input format: generated inputs turned into files (resolve_input) and
the files spread over Spark tasks (read_input). Its own module because it dispatches to the formats (warc.py,
hf_dataset.py, pkgcorpus.py) that build on readers.py; readers.py itself names none of them (no import cycle)."""
from __future__ import annotations

from pathlib import Path

from .. import storage
from ..config import InputConfig
from .hf_dataset import materialize
from .pkgcorpus import dump_python_env
from .readers import WEB_FORMATS, ReadError, _spark_read_fn, list_files, spark_schema, task_frame
from .warc import read_web


def resolve_input(cfg: InputConfig, run_dir: Path) -> InputConfig:
    """Turn generated inputs into files (python_env is dumped once per run dir) and check paths exist."""
    if cfg.format in ("python_env", "hf_dataset") and storage.is_uri(run_dir):
        raise ReadError(f"input.format {cfg.format} writes its files into the run folder, which must then be "
                        f"local; with runs_dir {run_dir} write the input to files first (jsonl or Parquet) and "
                        f"read those")
    if cfg.format == "python_env":
        target = Path(run_dir) / "_input" / "python_env.jsonl.gz"
        dump_python_env(target)
        cfg = cfg.model_copy(update={"path": [str(target)], "format": "jsonl", "id_field": "id",
                                     "url_field": "url", "source_field": "source",
                                     "keep_fields": cfg.keep_fields or ["package"]})
    elif cfg.format == "hf_dataset":
        cfg = materialize(cfg, Path(run_dir))
    list_files(cfg)  # raises a clear error for a missing path before Spark starts
    return cfg


def read_input(spark, cfg: InputConfig, rows_acc=None):
    """A DataFrame of documents with the reader's columns; bad rows carry drop_reason read:*."""
    if cfg.format in WEB_FORMATS:  # web formats carry extra columns (inputs/warc.py)
        return read_web(spark, cfg, rows_acc)
    tdf = task_frame(spark, cfg)
    return tdf.mapInArrow(_spark_read_fn(cfg.model_dump_json(), rows_acc), spark_schema(cfg))
