"""The run folder and every file in it has one owner: this module.

`RunDir` answers every question about a run folder: its manifest (read, validated, stages marked), whether a
stage is finished (one answer for the runner, inspection, the CLI and experiments), a stage's kept/ and
rejected/ (a pass-through stage's kept/ is its input's, see KEPT_FROM), the selection folder, the published
mixture.json and the embeddings folder. The functions below it are the mechanics: stage folders, atomic commit,
the kept/rejected split. Locking lives in lock.py, small atomic files in storage.py.
"""
from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from . import storage
from .errors import StageError
from .lock import LOCK
from .storage import RemotePath, has_rename, read_json, write_json_atomic

FORMAT_VERSION = 1
# On filesystems without a folder rename (object stores) a stage is written to NN-name.attempt-<time>-<id>
# and committed by its _SUCCESS marker; readers take the newest committed attempt (stage_location).
ATTEMPT = ".attempt-"
_ATTEMPT_RE = re.compile(r"^(\d\d-[A-Za-z0-9_]+)\.attempt-([0-9a-f]{16})-([0-9a-f]{8})$")


def stage_dirname(index: int, name: str) -> str:
    return f"{index:02d}-{name}"


def is_complete(stage_dir: Path, expected_hash: str) -> bool:
    if not (stage_dir / "_SUCCESS").exists():
        return False
    stats = read_json(stage_dir / "stats.json") or {}
    if not has_rename(stage_dir):  # the marker itself carries the hash it committed
        marker = read_json(stage_dir / "_SUCCESS") or {}
        return marker.get("hash") == expected_hash == stats.get("hash")
    return stats.get("hash") == expected_hash


def parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq
    if not folder.exists():
        return 0
    fs, files = storage.arrow_files(folder)
    return sum(pq.ParquetFile(f, filesystem=fs).metadata.num_rows for f in files)


def new_work_dir(run_dir: Path, dirname: str) -> Path:
    if not has_rename(run_dir):
        work = run_dir / f"{dirname}{ATTEMPT}{time.time_ns():016x}-{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)
        return work
    work = run_dir / f".{dirname}.tmp-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    return work


def _attempts(run_dir) -> dict[str, list]:
    """Stage folder name -> its attempt folders, oldest first (the name starts with the time it began)."""
    out: dict[str, list] = {}
    for p in run_dir.iterdir():
        m = _ATTEMPT_RE.match(p.name)
        if m:
            out.setdefault(m.group(1), []).append(p)
    return {k: sorted(v, key=lambda p: p.name) for k, v in out.items()}


def stage_location(run_dir, dirname: str):
    """The folder readers use for a stage: run_dir/dirname where folders rename; on object stores the
    newest attempt whose _SUCCESS marker is written (run_dir/dirname, which does not exist, if none is)."""
    if has_rename(run_dir):
        return run_dir / dirname
    for p in reversed(_attempts(run_dir).get(dirname, [])):
        if (p / "_SUCCESS").exists():
            return p
    return run_dir / dirname


def clean_stale_tmp(run_dir: Path) -> None:
    """Remove temp folders that a killed run left behind (they never look like a finished stage).
    Only gristmill's own names: .<NN-stage>.tmp-<8 hex> and .<NN-stage>.tmp-old-<8 hex>; on object stores,
    attempts without a _SUCCESS marker and committed attempts a newer one replaced. Call it holding the lock."""
    if not has_rename(run_dir):
        for dirname, attempts in _attempts(run_dir).items():
            keep = stage_location(run_dir, dirname)
            for p in attempts:
                if p != keep:
                    storage.rmtree(p)
        return
    for p in run_dir.glob(".*.tmp-*"):
        if re.match(r"^\.\d\d-[A-Za-z0-9_]+\.tmp-(old-)?[0-9a-f]{8}$", p.name):
            storage.rmtree(p)


def write_split(df, work: Path, status_col: str = "_status") -> None:
    """Write kept and rejected in one pass (one Spark job, no recompute), then name the folders."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import to_arrow_schema

    tagged = df.withColumn(status_col, F.when(F.col("drop_reason").isNull(), "kept").otherwise("rejected"))
    raw = work / "_parts"
    tagged.write.partitionBy(status_col).parquet(str(raw))
    schema = to_arrow_schema(df.schema)
    for part in ("kept", "rejected"):
        src = raw / f"{status_col}={part}"
        dst = work / part
        if src.exists():
            storage.move_tree(src, dst)  # on object stores a copy: work is not committed yet, nobody reads it
        else:
            dst.mkdir()
            empty = pa.Table.from_batches([], schema=schema)
            if isinstance(dst, RemotePath):
                pq.write_table(empty, (dst / "part-empty.parquet").fs_path, filesystem=dst.fs)
            else:
                pq.write_table(empty, dst / "part-empty.parquet")
    storage.rmtree(raw, ignore_errors=False)


def commit_stage(work: Path, final: Path, stats: dict) -> None:
    """Make work the stage's folder: rename it to final where folders rename; on object stores write the
    _SUCCESS marker last (with the stats hash) in the attempt folder, then delete the attempts it replaces."""
    write_json_atomic(work / "stats.json", stats)
    if not has_rename(work):
        write_json_atomic(work / "_SUCCESS", {"hash": stats.get("hash"), "attempt": work.name,
                                              "committed": time.strftime("%Y-%m-%dT%H:%M:%S")})
        for p in _attempts(work.parent).get(final.name, []):
            if p.name < work.name:
                storage.rmtree(p)
        return
    (work / "_SUCCESS").write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
    if final.exists():
        trash = final.with_name(f".{final.name}.tmp-old-{uuid.uuid4().hex[:8]}")
        final.rename(trash)
        work.rename(final)
        storage.rmtree(trash)
    else:
        work.rename(final)


def package_versions() -> dict:
    import platform
    from importlib import metadata
    out = {"python": platform.python_version()}
    for pkg in ("gristmill", "pyspark", "pyarrow", "pandas", "duckdb", "numpy", "pydantic", "torch",
                "sentence-transformers", "faiss-cpu", "fasttext-numpy2-wheel", "fasttext-predict"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


# -- where a run may live ----------------------------------------------------------------------------
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def run_path(runs_dir: Path, name: str) -> Path:
    """runs_dir/name, refusing names that would write anywhere else (../victim, /abs, a/b)."""
    if not _SAFE_NAME.match(name or "") or name in (".", ".."):
        raise StageError(f"run name {name!r} is not allowed: use one folder name of letters, digits, '.', '_' "
                         f"and '-' (the run lives in {runs_dir}/<name>; choose where with runs_dir/--runs-dir)")
    base = storage.path(runs_dir)
    base = base if isinstance(base, RemotePath) else base.resolve()
    path = (base / name).resolve()
    if path.parent != base:
        raise StageError(f"run name {name!r} resolves to {path}, outside runs_dir {base}")
    if path.exists():
        if not path.is_dir():
            raise StageError(f"{path} exists and is not a folder; pick another run name")
        manifest = read_json(path / "manifest.json")
        # what a run makes before its first manifest: a run that was started and killed is still ours, and
        # `gristmill experiment` (plan-filter) writes its configs into RUN/experiment/ (plan_filter/) before the
        # run's first stage
        own = {LOCK, "_input", "_file_digests.json", "spark.log", "_checkpoints", "_cache", "experiment", "plan_filter",
               ".space_reserve"}
        ours = isinstance(manifest, dict) and "format_version" in manifest and isinstance(manifest.get("stages"), list)
        if any(p.name not in own for p in path.iterdir()) and not ours:
            raise StageError(f"{path} exists and is not a gristmill run (no gristmill manifest.json); refusing to "
                             f"write into it: pick another run name or runs_dir")
    return path


def stage_folders(run_dir: Path) -> list[str]:
    """NN-name stage folders present in a run directory (on object stores: those with a committed attempt)."""
    if not has_rename(run_dir):
        return sorted(d for d in _attempts(run_dir) if stage_location(run_dir, d).name != d)
    return sorted(p.name for p in run_dir.iterdir() if p.is_dir() and re.match(r"^\d\d-[A-Za-z0-9_]+$", p.name))


# -- the run folder as one object --------------------------------------------------------------------
MANIFEST = "manifest.json"
MIXTURE = "mixture.json"
SELECTION = "selection"
EMBEDDINGS = "embeddings"
# A stage that passes its documents through (Stage.passes_through: embed, mix) writes no kept/ of its own:
# this file in its folder names the stage folder whose kept/ it kept, and RunDir.kept() follows it.
KEPT_FROM = "KEPT_FROM"


class RunDir:
    """One run folder: the only code that knows its file names. Works for local paths and storage URIs."""

    def __init__(self, path):
        self.path = storage.path(path)

    def __repr__(self) -> str:
        return f"RunDir({self.path})"

    # -- manifest.json ----------------------------------------------------------------------------
    @property
    def manifest_path(self):
        return self.path / MANIFEST

    def manifest(self, missing_ok: bool = False) -> dict:
        """The validated manifest; a clear StageError when it is missing, not JSON or from a newer gristmill."""
        run, mpath = self.path, self.manifest_path
        if not run.is_dir():
            raise StageError(f"{run} does not exist or is not a folder; pass a run folder such as runs/<name>")
        if not mpath.exists():
            if missing_ok:
                return {}
            raise StageError(f"{run} is not a gristmill run (no manifest.json); runs live under runs/<name>/")
        try:
            import json
            manifest = json.loads(mpath.read_text())
        except ValueError as e:
            raise StageError(f"{mpath} is not valid JSON ({e}); the run may have been written by another tool") \
                from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("stages", []), list):
            raise StageError(f"{mpath} does not look like a gristmill manifest (no 'stages' list)")
        version = manifest.get("format_version", 0)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StageError(f"{run} was written by a newer gristmill (format {version} > {FORMAT_VERSION}); "
                             f"upgrade gristmill to read it")
        return manifest

    def write_manifest(self, manifest: dict) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def mark(self, manifest: dict, index: int, status: str, **fields) -> None:
        """Set a stage entry's status (pending, running, skipped, done, failed, interrupted) and save."""
        manifest["stages"][index].update(status=status, **fields)
        self.write_manifest(manifest)

    def entries(self, manifest: dict | None = None) -> list[dict]:
        """The manifest's stage entries, stale ones (from an earlier config) left out."""
        m = self.manifest() if manifest is None else manifest
        return [e for e in m.get("stages", []) if isinstance(e, dict) and "dir" in e and e.get("status") != "stale"]

    # -- stage folders ----------------------------------------------------------------------------
    def stage(self, dirname: str):
        """The folder readers use for a stage (on object stores: its newest committed attempt)."""
        return stage_location(self.path, dirname)

    def stats(self, dirname: str) -> dict:
        return read_json(self.stage(dirname) / "stats.json") or {}

    def is_finished(self, dirname: str, expected_hash: str | None) -> bool:
        """The one answer to "is this stage finished": committed (_SUCCESS) with the hash the plan expects.
        expected_hash None (a hand-made manifest without hashes) accepts any committed folder."""
        folder = self.stage(dirname)
        if expected_hash is None:
            return (folder / "_SUCCESS").exists()
        return is_complete(folder, expected_hash)

    def finished(self, manifest: dict | None = None) -> list[dict]:
        """Manifest entries whose stage folder is finished for the hash the manifest records."""
        return [e for e in self.entries(manifest) if self.is_finished(e["dir"], e.get("hash"))]

    def kept(self, dirname: str):
        """A stage's kept/ folder; for a pass-through stage, the kept/ of the stage it took its rows from."""
        folder = self.stage(dirname)
        for _ in range(100):
            src = folder / KEPT_FROM
            if not src.exists():
                return folder / "kept"
            folder = self.stage(src.read_text().strip())
        raise StageError(f"{self.path}: the {KEPT_FROM} pointers from {dirname} form a loop; rerun that stage")

    def rejected(self, dirname: str):
        return self.stage(dirname) / "rejected"

    def kept_source(self, dirname: str) -> str:
        """The stage folder name that owns the kept/ rows of `dirname` (itself unless it passes through)."""
        kept = self.kept(dirname)
        return kept.parent.name.split(ATTEMPT)[0]

    # -- what later steps publish ------------------------------------------------------------------
    def selection(self, stages: list[str] | None = None):
        """The select stage's selection/ (the last of `stages`, default every finished stage, that has one),
        else RUN/selection/ (written by `gristmill select`); None when there is none."""
        names = [e["dir"] for e in self.finished()] if stages is None else stages
        for d in reversed(names):
            if (self.stage(d) / SELECTION).is_dir():
                return self.stage(d) / SELECTION
        return self.command_selection if self.command_selection.is_dir() else None

    @property
    def command_selection(self):
        """RUN/selection/: where `gristmill select` (outside a pipeline) writes its selection."""
        return self.path / SELECTION

    @staticmethod
    def stage_selection(stage_dir):
        """<stage>/selection/: where the select stage writes its selection, inside its own folder."""
        return stage_dir / SELECTION

    @property
    def mixture(self):
        """RUN/mixture.json: written by the runner only after the mix stage committed (stages/mix.py)."""
        return self.path / MIXTURE

    def publish_mixture(self, stage_dir) -> None:
        """Copy a committed mix stage's mixture.json to RUN/mixture.json, shard paths made relative to RUN."""
        from ..trainer_hooks.mixture import MixtureSpec, save_mixture
        src = stage_dir / MIXTURE
        spec = MixtureSpec.from_json(read_json(src) or {}, str(src))
        rel = stage_dir.name
        tok = spec.tokenizer.get("path")
        if tok and not Path(tok).is_absolute():
            spec.tokenizer = {**spec.tokenizer, "path": f"{rel}/{tok}"}
        for e in spec.domains.values():
            e.files = [f"{rel}/{f}" for f in e.files]
            e.heldout_files = [f"{rel}/{f}" for f in e.heldout_files]
        save_mixture(spec, self.mixture)

    def embeddings(self, name: str | None = None):
        """RUN/embeddings/[name]: the embedding cache, keyed by ids, texts and settings (selectors/embed.py);
        an embed stage's committed shards.json names the shards that hold its documents."""
        return self.path / EMBEDDINGS / name if name else self.path / EMBEDDINGS
