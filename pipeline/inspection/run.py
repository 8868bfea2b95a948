"""Inspection over a run directory with DuckDB (no Spark): open a run, find its finished stages,
register one view per stage output, and the per-stage summary that `gristmill run` prints at the end.

Works on a run that is still going or crashed: only stage folders with `_SUCCESS` whose hash matches
the manifest are read; the rest are listed with their state so the user knows what is missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..rundir import RunDir
from ..stage import StageError
from .files import parquet_files, sql_str  # noqa: F401  (re-exported: older imports name them here)
from .views import register_views

# Tokens are not counted with a tokenizer here (that would need Spark-sized work); UTF-8 bytes / 4 is the
# usual rough figure for English BPE vocabularies and is labelled as an estimate wherever it is shown.
TOKEN_EXPR = "coalesce(sum(strlen(text)), 0) // 4"
TOKEN_LABEL = "~tokens (bytes/4)"


def open_run(run_dir: str | Path) -> tuple[Path, dict]:
    """(run folder, its validated manifest); RunDir owns both."""
    rd = RunDir(run_dir)
    return Path(rd.path), rd.manifest()


@dataclass
class StageInfo:
    index: int
    name: str
    dir: str
    view: str  # base of the view names: <view>_kept, <view>_rejected
    path: Path  # the stage's folder
    status: str  # done | damaged | running | crashed | stale | failed | interrupted | pending
    stats: dict = field(default_factory=dict)
    kept: Path | None = None  # its kept/ (a pass-through stage's is the one it kept, RunDir.kept)
    rejected: Path | None = None
    files: dict = field(default_factory=dict)  # part -> readable Parquet files
    damaged: list = field(default_factory=list)  # "file: why" for each unreadable file

    @property
    def done(self) -> bool:
        return self.status == "done"


def _status(rd: RunDir, entry: dict) -> str:
    if entry.get("status") in ("stale", "failed", "interrupted"):
        return entry["status"]
    if rd.is_finished(entry["dir"], entry.get("hash")):
        return "done"
    if (rd.stage(entry["dir"]) / "_SUCCESS").exists():
        return "stale"  # a finished folder from an earlier config is not this run's output
    if any(rd.path.glob(f".{entry['dir']}.tmp-*")):
        return "running" if entry.get("status") == "running" else "crashed"
    return "crashed" if entry.get("status") == "running" else "pending"


def _check_files(rd: RunDir, info: StageInfo) -> None:
    """Read every Parquet footer of a finished stage; one unreadable file makes the stage `damaged`: it gets no
    views, and nothing later reads another stage in its place (see views.py)."""
    info.kept, info.rejected = rd.kept(info.dir), rd.rejected(info.dir)
    bad: list[str] = []
    for part, folder in (("kept", info.kept), ("rejected", info.rejected)):
        info.files[part] = parquet_files(folder, bad.append)
    if bad:
        info.damaged, info.status = bad, "damaged"


def stage_infos(run: Path, manifest: dict) -> list[StageInfo]:
    rd = RunDir(run)
    entries = [e for e in manifest.get("stages", []) if isinstance(e, dict) and "dir" in e]
    counts: dict[str, int] = {}
    for e in entries:
        if e.get("status") != "stale":  # a stale folder does not rename the current stage's views
            counts[e.get("name", "")] = counts.get(e.get("name", ""), 0) + 1
    out = []
    for e in entries:
        name = e.get("name") or e["dir"].split("-", 1)[-1]
        view = name if counts.get(name, 0) <= 1 and e.get("status") != "stale" else f"{name}_{e.get('index', 0)}"
        info = StageInfo(index=e.get("index", len(out)), name=name, dir=e["dir"], view=view,
                         path=rd.stage(e["dir"]), status=_status(rd, e), stats=rd.stats(e["dir"]))
        if info.done:
            _check_files(rd, info)
        out.append(info)
    return out


class Run:
    """A run folder opened for reading: its manifest, stages and a DuckDB connection with views."""

    def __init__(self, run_dir: str | Path):
        self.path, self.manifest = open_run(run_dir)
        self._con = None
        self.warnings: list[str] = []
        self.stages = stage_infos(self.path, self.manifest)
        for s in self.stages:
            for msg in s.damaged:
                self.warn(f"warning: skipping {msg}; stage {s.dir} is damaged: it has no views, and `final` "
                          f"is not another stage's rows. Rerun it: gristmill run CONFIG --from-stage {s.name}")

    def warn(self, msg: str) -> None:
        import sys
        if msg not in self.warnings:
            self.warnings.append(msg)
            print(msg, file=sys.stderr, flush=True)

    def lock_down(self) -> None:
        """From here on the connection reads only files inside this run and writes nowhere: DuckDB's
        external access is limited to the run folder and the configuration locked (no read_text('/etc/..'),
        ATTACH, INSTALL or COPY TO elsewhere); `user_query` also refuses statements other than queries."""
        con = self.con
        con.execute(f"SET allowed_directories=[{sql_str(str(self.path.resolve()) + '/')}]")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")

    def user_query(self, sql: str) -> tuple[list[str], list[tuple]]:
        """A user's SQL: read-only statements only, over a locked-down connection."""
        import duckdb
        self.lock_down()
        allowed = {"SELECT", "EXPLAIN", "PRAGMA"}
        try:
            kinds = [st.type.name for st in self.con.extract_statements(sql)]
        except duckdb.Error as e:
            raise StageError(f"SQL failed: {e}\nviews: {', '.join(self.views())}") from None
        refused = [k for k in kinds if k not in allowed]
        if refused:
            raise StageError(f"inspect sql runs read-only queries over the run's views; {refused[0]} statements are "
                             f"refused (no COPY, ATTACH, INSTALL, SET, CREATE or writes). To export, use "
                             f"--format csv/json and redirect the output")
        try:
            return self.query(sql)
        except StageError as e:
            if "disabled by configuration" in str(e) or "Permission Error" in str(e):
                raise StageError("inspect sql reads only the files of this run (external access is disabled): "
                                 + str(e).split("\n")[0]) from None
            raise

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.name

    def done(self) -> list[StageInfo]:
        return [s for s in self.stages if s.done]

    def not_done(self) -> list[StageInfo]:
        return [s for s in self.stages if not s.done]

    @property
    def con(self):
        if self._con is None:
            import duckdb
            self._con = duckdb.connect()
            register_views(self._con, self)
        return self._con

    def stage(self, key: str | None) -> StageInfo:
        """A finished stage by name, folder, index or view name; None means the last finished one (an error
        when a later committed stage is damaged: its rows are not the earlier stage's)."""
        done = self.done()
        if not done:
            raise StageError(f"run {self.path} has no finished stage yet; states: {self.states()}")
        if key is None:
            last = self.last_committed()
            if last is not None and not last.done:
                raise StageError(self.damage_note(last))
            return done[-1]
        for s in self.stages:
            if key in (s.name, s.dir, s.view, str(s.index)):
                if not s.done:
                    raise StageError(f"stage {s.dir} is {s.status}, so it has no output to read yet; "
                                     f"finished stages: {', '.join(x.view for x in done)}")
                if s.view != key and sum(x.name == key for x in self.stages) > 1:
                    raise StageError(f"stage {key!r} appears more than once; pick one of "
                                     f"{', '.join(x.view for x in self.stages if x.name == key)}")
                return s
        raise StageError(f"unknown stage {key!r}; stages of this run: {', '.join(s.view for s in self.stages)}")

    def last_committed(self) -> StageInfo | None:
        """The last stage whose folder is finished for this run, damaged or not."""
        return next((s for s in reversed(self.stages) if s.status in ("done", "damaged")), None)

    def damage_note(self, s: StageInfo) -> str:
        return (f"stage {s.dir} is damaged ({len(s.damaged)} unreadable Parquet file(s), e.g. "
                f"{s.damaged[0].split(': ')[0]}), so the run's final rows cannot be read; rerun it: "
                f"gristmill run CONFIG --from-stage {s.name}")

    def states(self) -> str:
        return ", ".join(f"{s.dir} {s.status}" for s in self.stages) or "(no stages in manifest)"

    def has_view(self, view: str) -> bool:
        return view in self.views()

    def views(self) -> list[str]:
        return [r[0] for r in self.con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name").fetchall()] + \
            [r[0] for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]

    def columns(self, view: str) -> list[str]:
        return [r[0] for r in self.con.execute(f"DESCRIBE {view}").fetchall()]

    def query(self, sql: str, params: list | None = None) -> tuple[list[str], list[tuple]]:
        """Run SQL; DuckDB's own message becomes a StageError (no traceback) with the views to use."""
        import duckdb
        try:
            cur = self.con.execute(sql, params or [])
            cols = [d[0] for d in cur.description] if cur.description else []
            return cols, cur.fetchall()
        except duckdb.Error as e:
            damaged = [self.damage_note(s) for s in self.stages if s.damaged]
            raise StageError(f"SQL failed: {e}\nviews: {', '.join(self.views())}"
                             + "".join(f"\n{d}" for d in damaged)) from None


def _kept_view(run: Run, s: StageInfo) -> str | None:
    return f"{s.view}_kept" if run.has_view(f"{s.view}_kept") else None


def stage_rows(run_or_path, manifest: dict | None = None) -> list[dict]:
    """Per stage: status, documents and estimated tokens in/kept/rejected, seconds, top drop reasons."""
    run = run_or_path if isinstance(run_or_path, Run) else Run(run_or_path)
    rows = []
    for s in run.stages:
        st = s.stats if s.done else {}
        row = {"stage": s.dir, "view": s.view, "status": s.status, "in": st.get("in"), "kept": st.get("kept"),
               "rejected": st.get("rejected"), "seconds": st.get("seconds"), "reasons": [],
               "tokens_kept": None, "tokens_rejected": None, "tokens_in": None}
        if s.done:
            for part in ("kept", "rejected"):
                if run.has_view(f"{s.view}_{part}"):
                    row[f"tokens_{part}"] = run.query(f"SELECT {TOKEN_EXPR} FROM {s.view}_{part}")[1][0][0]
            if row["tokens_kept"] is not None:
                row["tokens_in"] = row["tokens_kept"] + (row["tokens_rejected"] or 0)
            if run.has_view(f"{s.view}_rejected"):
                row["reasons"] = run.query(
                    f"SELECT drop_reason, count(*) FROM {s.view}_rejected GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5")[1]
        rows.append(row)
    return rows


def _n(v) -> str:
    return "-" if v is None else f"{v:,}"


def print_summary(run_dir: str | Path) -> None:
    run = Run(run_dir)
    rows = stage_rows(run)
    print(f"run {run.name}  ({run.path})")
    print(f"{'stage':<18}{'status':>9}{'docs in':>10}{'kept':>10}{'rejected':>10}"
          f"{'tok in':>12}{'tok kept':>12}{'tok rej':>11}{'time':>8}  top drop reasons")
    for r in rows:
        secs = "-" if r["seconds"] is None else f"{r['seconds']:.1f}s"
        reasons = ", ".join(f"{k} {v:,}" for k, v in r["reasons"][:3])
        print(f"{r['stage']:<18}{r['status']:>9}{_n(r['in']):>10}{_n(r['kept']):>10}{_n(r['rejected']):>10}"
              f"{_n(r['tokens_in']):>12}{_n(r['tokens_kept']):>12}{_n(r['tokens_rejected']):>11}{secs:>8}  {reasons}")
    secs = [r["seconds"] for r in rows if r["seconds"] is not None]
    if secs:
        print(f"wall time {sum(secs):.1f}s (sum of stage times; skipped stages count their original time)")
    print(f"tok = {TOKEN_LABEL}, an estimate, not a tokenizer count")
    missing = run.not_done()
    if missing:
        print("not finished: " + ", ".join(f"{s.dir} ({s.status})" for s in missing)
              + "; counts above cover finished stages only")
