"""Run a function over items in a child process with a time limit per item.

A pathological page (megabytes of nested tags, a regex that backtracks) can hold a C parser for minutes and
no signal can interrupt C code, so the work runs in a forked child: the parent waits at most `time_limit`
seconds for each result, and on a timeout or a crash kills the child, reports that item, and starts a new
child for the rest. Items travel in chunks and results stream back one by one, so the cost over running
in-process is one pickle of each page and result (datatrove's ExtractorSandbox sends one page per round trip).
"""
from __future__ import annotations

import multiprocessing as mp
from typing import Any, Callable, Iterator

CHUNK = 32


def _child(conn, fn: Callable[[Any], Any]) -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:  # under memory pressure, the kernel kills us first
            f.write("1000\n")
    except OSError:
        pass
    conn.send(("ready", None))
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if chunk is None:
            return
        for item in chunk:
            try:
                out = ("ok", fn(item))
            except Exception as e:  # reported per item; the child lives on
                out = ("error", f"{type(e).__name__}: {e}"[:500])
            conn.send(out)


class Sandbox:
    def __init__(self, fn: Callable[[Any], Any], time_limit: float):
        self.fn = fn
        self.time_limit = time_limit
        self.proc = None
        self.conn = None

    def _start(self) -> None:
        ctx = mp.get_context("fork")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child_conn, self.fn), daemon=True)
        self.proc.start()
        child_conn.close()
        if not self.conn.poll(60) or self.conn.recv()[0] != "ready":
            self.close()
            raise RuntimeError("the extraction child process did not start within 60 s")

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.conn.close()
            except OSError:
                pass
            self.proc.kill()
            self.proc.join(5)
            self.proc = None

    def map(self, items: list) -> Iterator[tuple[str, Any]]:
        """(status, value) per item, in order: ("ok", result), ("error", message), ("timeout", None),
        ("crash", exit description)."""
        i = 0
        while i < len(items):
            if self.proc is None or not self.proc.is_alive():
                self.close()
                self._start()
            chunk = items[i:i + CHUNK]
            self.conn.send(chunk)
            for _ in chunk:
                i += 1
                if not self.conn.poll(self.time_limit):
                    self.close()
                    yield "timeout", None
                    break
                try:
                    yield self.conn.recv()
                except (EOFError, OSError):
                    self.proc.join(1)
                    code = self.proc.exitcode
                    self.close()
                    yield "crash", f"the extraction process died (exit code {code}; out of memory?)"
                    break

    def __del__(self):
        if self.proc is not None:
            self.close()
