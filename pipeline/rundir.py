"""The run directory: stage folders, atomic writes, stats.json, _SUCCESS and manifest.json."""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path

from . import storage
from .storage import RemotePath, has_rename

FORMAT_VERSION = 1
# On filesystems without a folder rename (object stores) a stage is written to NN-name.attempt-<time>-<id>
# and committed by its _SUCCESS marker; readers take the newest committed attempt (stage_location).
ATTEMPT = ".attempt-"
_ATTEMPT_RE = re.compile(r"^(\d\d-[A-Za-z0-9_]+)\.attempt-([0-9a-f]{16})-([0-9a-f]{8})$")


def stage_dirname(index: int, name: str) -> str:
    return f"{index:02d}-{name}"


def write_json_atomic(path: Path, obj) -> None:
    if isinstance(path, RemotePath):
        storage.write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written temporary file must not fill the disk further
        raise


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


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
    from .stage import StageError
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
        # `gristmill experiment` writes its configs into RUN/experiment/ before the run's first stage
        own = {LOCK, "_input", "_file_digests.json", "spark.log", "_checkpoints", "_cache", "experiment",
               ".space_reserve"}
        if any(p.name not in own for p in path.iterdir()) and not (isinstance(manifest, dict) and "format_version" in manifest
                                        and isinstance(manifest.get("stages"), list)):
            raise StageError(f"{path} exists and is not a gristmill run (no gristmill manifest.json); refusing to "
                             f"write into it: pick another run name or runs_dir")
    return path


# -- one run at a time per folder --------------------------------------------------------------------
LOCK = "_LOCK"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lock(run_dir: Path, warn=print) -> Path:
    """Create run_dir/_LOCK with our pid, host and start time; a live holder stops us at once, naming it;
    a lock left by a dead process on this host is taken over with a warning. On object stores: see
    _acquire_object_lock."""
    import socket

    from .stage import StageError
    if isinstance(run_dir, RemotePath):
        return _acquire_object_lock(run_dir, warn)
    lock = run_dir / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = read_json(lock) or {}
            pid, host = held.get("pid"), held.get("host")
            if isinstance(pid, int) and host == me["host"] and not _pid_alive(pid):
                warn(f"warning: taking over the lock of {run_dir}: its holder (pid {pid}, started "
                     f"{held.get('started')}) is no longer running")
                lock.unlink(missing_ok=True)
                continue
            if not held:  # being written this instant, or left empty by a crash
                time.sleep(0.2)
                held = read_json(lock)
                if held is None:
                    lock.unlink(missing_ok=True)
                    continue
            raise StageError(f"run {run_dir} is in use by pid {pid} on {host} (since {held.get('started')}). "
                             f"Wait for it, use another --name, or if that process is gone, delete {lock}")
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        return lock
    raise StageError(f"could not take the lock {lock}; delete it if no run is using {run_dir}")


def release_lock(lock: Path) -> None:
    if isinstance(lock, RemotePath):
        _release_object_lock(lock)
        return
    held = read_json(lock) or {}
    if held.get("pid") == os.getpid():
        lock.unlink(missing_ok=True)


# -- the lock on object stores ----------------------------------------------------------------------
LOCK_SETTLE_S = 2.0  # wait between writing the lock and reading it back
LOCK_STALE_S = 600.0  # a lock whose heartbeat is older than this is taken over
_HEARTBEATS: dict[str, tuple] = {}


def _acquire_object_lock(run_dir: RemotePath, warn=print, settle: float | None = None,
                         stale_after: float | None = None) -> RemotePath:
    """An advisory lock for stores without an atomic create-if-absent (pyarrow offers none for S3): the
    lock object names its owner (host, pid, a random token) and a heartbeat time that a thread renews every
    stale_after/4 seconds; we write it, wait `settle` seconds, and read it back: the token must still be
    ours. A lock whose heartbeat is older than stale_after (or left by a dead pid on this host) is taken over.

    What it does not guarantee: two runs that both read "no lock" and write theirs more than `settle`
    seconds apart (e.g. one paused between the read and the write) can both proceed; a holder paused
    longer than stale_after (or cut off from the store) loses the lock without knowing it. It keeps two
    people from starting the same run by mistake; it is not a mutex for concurrent writers."""
    import socket
    import threading

    from .stage import StageError
    settle = LOCK_SETTLE_S if settle is None else settle
    stale_after = LOCK_STALE_S if stale_after is None else stale_after
    lock = run_dir / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
          "token": uuid.uuid4().hex, "heartbeat": time.time()}
    held = read_json(lock)
    if isinstance(held, dict) and held:
        age = time.time() - float(held.get("heartbeat") or 0)
        dead = held.get("host") == me["host"] and isinstance(held.get("pid"), int) and not _pid_alive(held["pid"])
        if age < stale_after and not dead:
            raise StageError(f"run {run_dir.uri} is in use by pid {held.get('pid')} on {held.get('host')} (since "
                             f"{held.get('started')}, last heartbeat {age:.0f}s ago). Wait for it, use another "
                             f"--name, or if that process is gone, delete {lock.uri}")
        warn(f"warning: taking over the lock of {run_dir.uri}: its holder (pid {held.get('pid')} on "
             f"{held.get('host')}) {'is no longer running' if dead else f'has not renewed it for {age:.0f}s'}")
    write_json_atomic(lock, me)
    time.sleep(settle)
    back = read_json(lock) or {}
    if back.get("token") != me["token"]:
        raise StageError(f"run {run_dir.uri} was locked by pid {back.get('pid')} on {back.get('host')} at the "
                         f"same moment; only one run may use it. Try again when that run is done")
    stop = threading.Event()

    def beat():
        while not stop.wait(stale_after / 4):
            now = read_json(lock) or {}
            if now.get("token") != me["token"]:
                warn(f"warning: the lock of {run_dir.uri} was taken over by pid {now.get('pid')} on "
                     f"{now.get('host')}; this run's writes may now collide with that one's")
                return
            write_json_atomic(lock, {**me, "heartbeat": time.time()})

    t = threading.Thread(target=beat, name="gristmill-lock-heartbeat", daemon=True)
    t.start()
    _HEARTBEATS[str(lock)] = (stop, t, me["token"])
    return lock


def _release_object_lock(lock: RemotePath) -> None:
    stop, t, token = _HEARTBEATS.pop(str(lock), (None, None, None))
    if stop is None:
        return
    stop.set()
    t.join(timeout=30)
    if (read_json(lock) or {}).get("token") == token:
        lock.unlink(missing_ok=True)


def stage_folders(run_dir: Path) -> list[str]:
    """NN-name stage folders present in a run directory (on object stores: those with a committed attempt)."""
    if not has_rename(run_dir):
        return sorted(d for d in _attempts(run_dir) if stage_location(run_dir, d).name != d)
    return sorted(p.name for p in run_dir.iterdir() if p.is_dir() and re.match(r"^\d\d-[A-Za-z0-9_]+$", p.name))


# -- the files a stage reads -------------------------------------------------------------------------
def file_digest(path: str | Path, cache: dict) -> dict:
    """size, mtime and a streamed sha256 of a file (or of every file under a folder); the digest is reused
    while size and mtime stay the same, so a 2 GB model is hashed once, not per run."""
    import hashlib
    p = Path(path).expanduser()
    if not p.exists():
        return {"path": str(path), "missing": True}
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    h, total, newest = hashlib.sha256(), 0, 0
    for f in files:
        st = f.stat()
        key = f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if key not in cache:
            d = hashlib.sha256()
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    d.update(block)
            cache[key] = d.hexdigest()
        h.update(f"{f.relative_to(p) if p.is_dir() else f.name}\0{cache[key]}\0".encode())
        total, newest = total + st.st_size, max(newest, st.st_mtime_ns)
    return {"path": str(path), "size": total, "mtime_ns": newest, "sha256": h.hexdigest()}
