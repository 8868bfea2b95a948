"""The run directory: stage folders, atomic writes, stats.json, _SUCCESS and manifest.json."""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

FORMAT_VERSION = 1


def stage_dirname(index: int, name: str) -> str:
    return f"{index:02d}-{name}"


def write_json_atomic(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_complete(stage_dir: Path, expected_hash: str) -> bool:
    if not (stage_dir / "_SUCCESS").exists():
        return False
    stats = read_json(stage_dir / "stats.json") or {}
    return stats.get("hash") == expected_hash


def parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq
    if not folder.exists():
        return 0
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.glob("*.parquet")))


def new_work_dir(run_dir: Path, dirname: str) -> Path:
    work = run_dir / f".{dirname}.tmp-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    return work


def clean_stale_tmp(run_dir: Path) -> None:
    """Remove temp folders that a killed run left behind (they never look like a finished stage)."""
    for p in run_dir.glob(".*.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)


def write_split(df, work: Path, status_col: str = "_status") -> None:
    """Write kept and rejected in one pass (one Spark job, no recompute), then name the folders."""
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_schema
    import pyarrow as pa
    import pyarrow.parquet as pq

    tagged = df.withColumn(status_col, F.when(F.col("drop_reason").isNull(), "kept").otherwise("rejected"))
    raw = work / "_parts"
    tagged.write.partitionBy(status_col).parquet(str(raw))
    schema = to_arrow_schema(df.schema)
    for part in ("kept", "rejected"):
        src = raw / f"{status_col}={part}"
        dst = work / part
        if src.exists():
            src.rename(dst)
        else:
            dst.mkdir()
            pq.write_table(pa.Table.from_batches([], schema=schema), dst / "part-empty.parquet")
    shutil.rmtree(raw)


def commit_stage(work: Path, final: Path, stats: dict) -> None:
    write_json_atomic(work / "stats.json", stats)
    (work / "_SUCCESS").write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    if final.exists():
        trash = final.with_name(f".{final.name}.tmp-old-{uuid.uuid4().hex[:8]}")
        final.rename(trash)
        work.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        work.rename(final)


def package_versions() -> dict:
    from importlib import metadata
    import platform
    out = {"python": platform.python_version()}
    for pkg in ("gristmill", "pyspark", "pyarrow", "pandas", "duckdb", "numpy", "pydantic", "torch",
                "sentence-transformers", "faiss-cpu", "fasttext-numpy2-wheel", "fasttext-predict"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out
