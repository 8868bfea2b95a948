"""DuckDB views over a run folder, so `inspect sql` and every other command speak the same names.

Per finished stage: <stage>_kept and <stage>_rejected (a stage used twice: <stage>_<index>_kept).
Across stages: `rejected` (every rejected row with its `stage`), `final` (the last finished stage's kept
rows), `manifest` (one row per stage: status, counts, seconds), and `selection` when selection/ holds Parquet.

A damaged stage (an unreadable Parquet file, run.py) gets no views; when it is the last finished stage there is
no `final` either: a query on it fails and names the damage, rather than reading an earlier stage's rows.
"""
from __future__ import annotations

from ..rundir import RunDir
from .files import parquet_files, sql_str


def _parquet(files) -> str:
    # union_by_name: Spark may write partitions whose schemas differ only in column order or nullability
    if isinstance(files, str):
        return f"read_parquet({sql_str(files)}, union_by_name=true)"
    return f"read_parquet([{', '.join(sql_str(str(f)) for f in files)}], union_by_name=true)"


def register_views(con, run, prefix: str = "") -> None:
    """Create the views in `con`; `prefix` lets a second run share the connection (inspect diff)."""
    done = run.done()
    rejected_parts = []
    made = set()
    for s in done:
        for part in ("kept", "rejected"):
            files = s.files.get(part)  # read and checked once, in run.py
            if files:
                con.execute(f'CREATE VIEW "{prefix}{s.view}_{part}" AS SELECT * FROM {_parquet(files)}')
                made.add((s.view, part))
        if (s.view, "rejected") in made:
            rejected_parts.append(f"SELECT {sql_str(s.view)} AS stage, * FROM \"{prefix}{s.view}_rejected\"")
    if rejected_parts:
        con.execute(f"CREATE VIEW {prefix}rejected AS " + " UNION ALL BY NAME ".join(rejected_parts))
    last = run.last_committed()
    if last is not None and last.done and (last.view, "kept") in made:
        con.execute(f'CREATE VIEW {prefix}final AS SELECT * FROM "{prefix}{last.view}_kept"')
    if prefix:
        return
    _manifest_table(con, run)
    folder = RunDir(run.path).selection([s.dir for s in done])
    sel = parquet_files(folder, lambda m: run.warn(f"warning: skipping {m}")) if folder is not None else None
    if sel:
        con.execute(f"CREATE VIEW selection AS SELECT * FROM {_parquet(sel)}")


def _manifest_table(con, run) -> None:
    con.execute("CREATE TABLE manifest (idx INTEGER, stage VARCHAR, dir VARCHAR, view VARCHAR, status VARCHAR, "
                "docs_in BIGINT, kept BIGINT, rejected BIGINT, seconds DOUBLE, hash VARCHAR)")
    entries = {e.get("dir"): e for e in run.manifest.get("stages", []) if isinstance(e, dict)}
    for s in run.stages:
        st = s.stats if s.done else {}
        con.execute("INSERT INTO manifest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [s.index, s.name, s.dir, s.view, s.status, st.get("in"), st.get("kept"), st.get("rejected"),
                     st.get("seconds"), (entries.get(s.dir) or {}).get("hash")])
