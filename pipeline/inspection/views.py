"""DuckDB views over a run folder, so `inspect sql` and every other command speak the same names.

Per finished stage: <stage>_kept and <stage>_rejected (a stage used twice: <stage>_<index>_kept).
Across stages: `rejected` (every rejected row with its `stage`), `final` (the last finished stage's kept
rows), `manifest` (one row per stage: status, counts, seconds), and `selection` when selection/ holds Parquet.
"""
from __future__ import annotations

from .run import parquet_glob, sql_str


def _parquet(glob: str) -> str:
    # union_by_name: Spark may write partitions whose schemas differ only in column order or nullability
    return f"read_parquet({sql_str(glob)}, union_by_name=true)"


def register_views(con, run, prefix: str = "") -> None:
    """Create the views in `con`; `prefix` lets a second run share the connection (inspect diff)."""
    done = run.done()
    rejected_parts = []
    for s in done:
        for part in ("kept", "rejected"):
            glob = parquet_glob(s.path / part)
            if glob:
                con.execute(f'CREATE VIEW "{prefix}{s.view}_{part}" AS SELECT * FROM {_parquet(glob)}')
        if parquet_glob(s.path / "rejected"):
            rejected_parts.append(f"SELECT {sql_str(s.view)} AS stage, * FROM \"{prefix}{s.view}_rejected\"")
    if rejected_parts:
        con.execute(f"CREATE VIEW {prefix}rejected AS " + " UNION ALL BY NAME ".join(rejected_parts))
    kept = [s for s in done if parquet_glob(s.path / "kept")]
    if kept:
        con.execute(f'CREATE VIEW {prefix}final AS SELECT * FROM "{prefix}{kept[-1].view}_kept"')
    if prefix:
        return
    _manifest_table(con, run)
    # the select stage writes <stage>/selection/; older runs and hand-made ones keep RUN/selection/
    sel = next((g for g in [parquet_glob(s.path / "selection") for s in reversed(done)]
                + [parquet_glob(run.path / "selection")] if g), None)
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
