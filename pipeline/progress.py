"""Terminal progress while Spark works: stage, tasks, rows, rate."""
from __future__ import annotations

import sys
import threading
import time


class Progress:
    """Polls Spark's status tracker; rows come from an accumulator the reader and batch stages bump."""

    def __init__(self, spark, label: str, rows_acc=None, quiet: bool = False, every: float = 1.0):
        self.sc = spark.sparkContext
        self.label = label
        self.rows_acc = rows_acc
        self.quiet = quiet or not sys.stderr.isatty()
        self.every = every
        self._stop = threading.Event()
        self._thread = None
        self.t0 = time.time()

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
        for sid in tracker.getActiveStageIds():
            info = tracker.getStageInfo(sid)
            if info:
                done += info.numCompletedTasks
                total += info.numTasks
        dt = time.time() - self.t0
        parts = [f"  {self.label}", f"{dt:5.0f}s"]
        if total:
            parts.append(f"tasks {done}/{total}")
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
