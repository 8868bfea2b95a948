"""One place that turns Spark, py4j and OS failures into one paragraph a user can act on.

Spark wraps a worker's Python error in a Py4JJavaError whose text is hundreds of lines of JVM stack; a
dead JVM surfaces as a py4j connection error; a full disk as `An error occurred while calling o180.parquet`
with the cause buried in the Java stack. `explain()` finds the cause and says what to do next.
"""
from __future__ import annotations

import errno
import re
import signal
import subprocess

SPARK_ERRORS = ("PythonException", "Py4JJavaError", "SparkException", "AnalysisException",
                "SparkRuntimeException", "IllegalArgumentException")
_USER_MARKERS = ("ReadError: ", "StageError: ", "ConfigError: ", "AccountingError: ")
_JVM_GONE = ("Py4JNetworkError", "Answer from Java side is empty", "Connection refused",
             "Error while sending or receiving", "java.lang.OutOfMemoryError", "SparkContext was shut down",
             "Cannot call methods on a stopped SparkContext", "py4j.protocol.Py4JError")
_RESUME = "Rerun the same command to resume from the last finished stage."


class StageError(Exception):
    """A problem the user can fix; the CLI prints it without a traceback."""


def _chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _no_space(e: BaseException, where: str | None) -> str | None:
    for x in _chain(e):
        if isinstance(x, OSError) and x.errno == errno.ENOSPC:
            path = x.filename or where or "the output folder"
            return (f"no space left on the device holding {path}. Free space there, or point runs_dir (--runs-dir) "
                    f"at a larger disk (Spark's scratch space is spark.local.dir). {_RESUME}")
        if "No space left on device" in str(x):
            m = re.search(r"(/[^\s:'\"]+)[^\n]*No space left on device", str(x))
            path = m.group(1) if m else (where or "the output folder")
            return (f"no space left on the device holding {path} (Spark: No space left on device). Free space "
                    f"there, or point runs_dir (--runs-dir) or spark.local.dir at a larger disk. {_RESUME}")
    return None


def jvm_exit_status(wait: float = 0.0) -> int | None:
    """The exit status of this process's Spark JVM once it has exited (negative: killed by that signal), else
    None (alive, or no local JVM: a cluster's driver is another machine's business)."""
    try:
        from pyspark import SparkContext
    except ImportError:
        return None
    proc = getattr(SparkContext._gateway, "proc", None)
    if proc is None:
        return None
    try:
        return proc.wait(timeout=wait) if wait else proc.poll()
    except subprocess.TimeoutExpired:
        return None


def _jvm_died(at: str, status: int, text: str, mem: str) -> str:
    if "java.lang.OutOfMemoryError" in text:
        return (f"{at}the Spark JVM ran out of memory: raise spark.driver_memory{mem} in the config, or lower "
                f"spark.master's thread count. {_RESUME}")
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = "unknown"
        return (f"{at}the Spark JVM was killed by signal {-status} ({name}), from outside gristmill: by a user, a "
                f"cluster or job manager, or the system's out-of-memory killer (`dmesg` or `journalctl -k` says "
                f"which). If it was memory, raise spark.driver_memory{mem} or lower spark.master's thread count. "
                f"{_RESUME}")
    return (f"{at}the Spark JVM exited with status {status}; its log (the run's spark.log, or the console) says "
            f"why. {_RESUME}")


def user_part(text: str) -> str | None:
    """The message of one of gristmill's own errors raised inside a Spark task, without the JVM stack."""
    for marker in _USER_MARKERS:
        if marker in text:
            lines = []
            for line in text.split(marker, 1)[1].splitlines():
                if line.startswith("\tat ") or line.startswith("  File ") or "JVM stacktrace" in line:
                    break
                lines.append(line)
            return "\n".join(lines).strip()
    return None


def spark_error_message(e: BaseException) -> str | None:
    """Pull the Python error raised inside a Spark task out of the JVM wrapper, if this is one."""
    name = type(e).__name__
    if name not in SPARK_ERRORS:
        return None
    text = str(e)
    mine = user_part(text)
    if mine is not None:
        return mine
    first = [ln for ln in text.splitlines() if ln.strip()]
    return (first[-1] if name == "PythonException" and first else text.splitlines()[0] if first else name)


def explain(e: BaseException, stage: str | None = None, where: str | None = None,
            driver_memory: str | None = None) -> str | None:
    """One paragraph naming the cause and the next step, or None when this is not a failure we know."""
    at = f"stage {stage}: " if stage else ""
    if isinstance(e, KeyboardInterrupt):
        return f"{at}interrupted. {_RESUME}"
    msg = _no_space(e, where)
    if msg:
        return at + msg
    text = "\n".join(f"{type(x).__name__}: {x}" for x in _chain(e))
    mem = f" (now {driver_memory})" if driver_memory else ""
    gone = any(m in text for m in _JVM_GONE) or type(e).__name__ in ("Py4JError", "Py4JNetworkError")
    status = jvm_exit_status(wait=2.0 if gone else 0.0)
    if status is not None and user_part(text) is None:
        return _jvm_died(at, status, text, mem)
    if gone and user_part(text) is None:
        return (f"{at}the Spark JVM died, most likely out of memory: raise spark.driver_memory{mem} in the config, "
                f"or lower spark.master's thread count. {_RESUME}")
    if "ExecutorLostFailure" in text or "executor lost" in text.lower():
        return (f"{at}a Spark executor was lost (killed by the OS or the cluster, often for memory): give executors "
                f"more memory (spark.executor.memory) or use more partitions. {_RESUME}")
    msg = spark_error_message(e)
    if msg is not None:
        return at + msg
    return None
