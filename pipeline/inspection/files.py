"""The small helpers every inspection module shares: which Parquet files of a folder read, SQL string quoting."""
from __future__ import annotations

from pathlib import Path


def parquet_files(folder: Path, on_bad=None) -> list[Path]:
    """The Parquet files of a folder whose footer reads; each unreadable one is reported to on_bad as
    "FILE: not a readable Parquet file (why)" and left out."""
    import pyarrow.parquet as pq
    good = []
    for f in sorted(folder.glob("*.parquet")) if folder is not None and folder.exists() else []:
        try:
            pq.read_metadata(f)
        except Exception as e:  # pyarrow raises ArrowInvalid / OSError for cut or foreign files
            if on_bad is not None:
                on_bad(f"{f}: not a readable Parquet file ({str(e).splitlines()[0][:120]})")
            continue
        good.append(f)
    return good


def sql_str(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"
