"""One run at a time per run folder: the _LOCK file (local disks) and an advisory heartbeat lock (object stores)."""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from .errors import StageError
from .storage import RemotePath, read_json, write_json_atomic

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


