"""Terminal progress for long steps: a Spark stage (tasks, rows, rate, ETA) and counted loops (training
steps, embedding batches, rephrased chunks) with rate and ETA. Lines go to stderr and only on a terminal, so
logs and pipes stay clean; `--quiet` turns them off."""
from __future__ import annotations

import sys
import threading
import time


def fmt_seconds(s: float) -> str:
    """
    >>> fmt_seconds(5.2), fmt_seconds(75), fmt_seconds(3725)
    ('5s', '1m15s', '1h02m')
    """
    s = int(round(max(s, 0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def eta(done: float, total: float, elapsed: float) -> str | None:
    """Time left at the rate so far, or None before there is a rate.

    >>> eta(25, 100, 10.0), eta(0, 100, 10.0), eta(100, 100, 10.0)
    ('30s', None, '0s')
    """
    if done <= 0 or total <= 0 or elapsed <= 0:
        return None
    return fmt_seconds(elapsed * max(total - done, 0) / done)


def on_terminal(quiet: bool = False) -> bool:
    return not quiet and sys.stderr.isatty()


class Meter:
    """Counted progress: `with Meter(total, "embed", unit="docs") as m: ... m.update(n)`.

    Draws one line (done/total, rate, ETA) at most every `every` seconds on a terminal; silent otherwise."""

    def __init__(self, total: int | None, label: str, unit: str = "items", quiet: bool = False,
                 every: float = 0.5, stream=None):
        self.total, self.label, self.unit, self.every = total, label, unit, every
        self.stream = stream or sys.stderr
        self.show = stream is not None or on_terminal(quiet)
        self.done = 0
        self.t0 = self._last = time.time()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.show:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def line(self) -> str:
        dt = time.time() - self.t0
        parts = [f"  {self.label}", f"{self.done:,}" + (f"/{self.total:,}" if self.total else ""), self.unit]
        if dt > 0 and self.done:
            parts.append(f"{self.done / dt:,.1f} {self.unit}/s")
        left = eta(self.done, self.total or 0, dt)
        if left is not None:
            parts.append(f"ETA {left}")
        return "  ".join(parts)

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.time()
        if self.show and (now - self._last >= self.every or (self.total and self.done >= self.total)):
            self._last = now
            self.stream.write("\r\033[K" + self.line()[:150])
            self.stream.flush()


class Progress:
    """Polls Spark's status tracker while a stage runs; rows come from an accumulator the reader and batch
    stages bump. ETA is from the active Spark stage's finished tasks (a stage of several Spark jobs, like
    MinHash dedup, shows the ETA of the job it is in)."""

    def __init__(self, spark, label: str, rows_acc=None, quiet: bool = False, every: float = 1.0):
        self.sc = spark.sparkContext
        self.label = label
        self.rows_acc = rows_acc
        self.quiet = not on_terminal(quiet)
        self.every = every
        self._stop = threading.Event()
        self._thread = None
        self.t0 = time.time()
        self._job = (None, 0.0)  # (active Spark stage ids, when they started)

    def __enter__(self):
        if not self.quiet:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()

    def _line(self) -> str:
        tracker = self.sc.statusTracker()
        done = total = 0
        ids = tuple(sorted(tracker.getActiveStageIds()))
        for sid in ids:
            info = tracker.getStageInfo(sid)
            if info:
                done += info.numCompletedTasks
                total += info.numTasks
        now = time.time()
        if ids != self._job[0]:
            self._job = (ids, now)
        dt = now - self.t0
        parts = [f"  {self.label}", f"{dt:5.0f}s"]
        if total:
            parts.append(f"tasks {done}/{total}")
            left = eta(done, total, now - self._job[1])
            if left is not None:
                parts.append(f"ETA {left}")
        if self.rows_acc is not None:
            rows = self.rows_acc.value
            parts.append(f"rows {rows:,}")
            if dt > 0 and rows:
                parts.append(f"{rows / dt:,.0f} rows/s")
        return "  ".join(parts)

    def _loop(self):
        while not self._stop.wait(self.every):
            try:
                sys.stderr.write("\r\033[K" + self._line()[:150])
                sys.stderr.flush()
            except Exception:  # the tracker can vanish while Spark shuts down
                return
