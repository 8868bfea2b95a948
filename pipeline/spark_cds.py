"""A class-data-sharing archive for the Spark driver JVM: about half its start and first job.

Most of a cold `SparkSession` start is the JVM loading and verifying classes from Spark's ~300 jars. A
dynamic CDS archive (JEP 350, "Dynamic CDS Archives", Java 13+; AppCDS, JEP 310) holds those classes already
parsed and verified: the JVM that ran a representative job dumps them at exit
(`-XX:ArchiveClassesAtExit`), and later JVMs map the file (`-XX:SharedArchiveFile`).

An archive only fits the JVM build and the class path it was dumped with, so it is keyed by a hash of
`java -version`, the java binary and the Spark jar set (names and sizes), and lives under
`$GRISTMILL_CACHE` (else `$XDG_CACHE_HOME/gristmill`, else `~/.cache/gristmill`) as
`spark-cds/<key>-<bytes>.jsa`. Measured on Java 17 (see tests/pipeline/test_spark_cds.py):
- a class-path or JVM mismatch (e.g. `spark.driver.extraClassPath`, a heap over 32 GB): the JVM ignores the
  archive, with a warning on stdout that `-Xlog:cds*=off` silences;
- a truncated archive crashes the JVM (SIGBUS) before any check, so the file name carries its size and a file
  of another size is never passed;
- bytes changed in place load silently unless `-XX:+VerifySharedSpaces` checks the regions' CRCs (~0.1 s on a
  180 MB archive); we pay that rather than risk a driver that fails mid-run.

Build once with `python -m gristmill.pipeline.spark_cds` (scripts/bootstrap.sh does); `get_spark` uses the
archive when one fits. Turn it off with `spark.class_archive: false` or `GRISTMILL_SPARK_CDS=0`.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .storage import cache_root

ENV_SWITCH = "GRISTMILL_SPARK_CDS"
KEEP_OTHER = 2  # archives of other keys kept (another venv's Spark, a JDK just upgraded)


def archive_dir() -> Path:
    return cache_root() / "spark-cds"


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def java_executable() -> str | None:
    """The java that Spark's launcher (bin/spark-class) runs: $JAVA_HOME/bin/java, else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def spark_jars_dir() -> Path:
    from pyspark.find_spark_home import _find_spark_home  # honours $SPARK_HOME as spark-class does
    return Path(_find_spark_home()) / "jars"


def archive_key() -> str | None:
    """Hash of what the archive must match, or None when there is no java to ask."""
    java = java_executable()
    jars = spark_jars_dir()
    if java is None or not jars.is_dir():
        return None
    return _key(os.path.realpath(java), os.environ.get("JAVA_HOME", ""), str(jars.resolve()),
                tuple(sorted((e.name, e.stat().st_size) for e in os.scandir(jars) if e.name.endswith(".jar"))))


@functools.lru_cache(maxsize=8)
def _key(java: str, java_home: str, jars: str, jar_set: tuple) -> str | None:
    try:
        version = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    h = hashlib.sha256(json.dumps([java, version, jars, jar_set]).encode())
    return h.hexdigest()[:20]


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:  # another process's prune removed it meanwhile
        return time.time()


def _newest_first(paths) -> list[Path]:
    return sorted(paths, key=_mtime, reverse=True)


def _archives(key: str) -> list[Path]:
    """This key's archives, newest first."""
    return _newest_first(archive_dir().glob(f"{key}-*.jsa"))


def _whole(path: Path) -> bool:
    """The byte count in the name matches the file: a truncated archive would crash the JVM."""
    try:
        return path.stat().st_size == int(path.stem.rsplit("-", 1)[1])
    except (OSError, ValueError, IndexError):
        return False


def usable_archive() -> Path | None:
    """The archive for this java and Spark, if one was built and is whole; None otherwise."""
    key = archive_key()
    if key is None or not archive_dir().is_dir():
        return None
    for path in _archives(key):
        if _whole(path):
            return path
    return None


def _quote(s: str) -> str:
    # Spark's launcher splits extraJavaOptions like a shell (CommandBuilderUtils.parseOptionString).
    return shlex.quote(s) if any(c in s for c in " \t\"'\\") else s


def java_options(path: Path | None = None) -> list[str]:
    """Driver JVM options that map the archive; [] when turned off or none fits."""
    if not enabled():
        return []
    path = path or usable_archive()
    if path is None:
        return []
    return [f"-XX:SharedArchiveFile={_quote(str(path))}", "-Xshare:auto", "-XX:+VerifySharedSpaces",
            "-Xlog:cds*=off"]


def build(force: bool = False, timeout: float = 900, quiet: bool = False) -> Path:
    """Build the archive for this java and Spark (about 15-30 s), unless a whole one exists.

    A fresh Python process runs the workload, because a JVM starts once per process and this one may have one.
    The JVM dumps to a temporary name; the archive is renamed into place only when the dump finished."""
    key = archive_key()
    if key is None:
        raise RuntimeError("no java found: Spark needs Java 17+ (set JAVA_HOME or put java on PATH)")
    if not force and (existing := usable_archive()) is not None:
        return existing
    out_dir = archive_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / f"{key}.build.log"
    failed = out_dir / f"{key}.failed"
    if failed.exists() and not force:
        # e.g. a JVM without CDS (OpenJ9): Spark's -XX:+IgnoreUnrecognizedVMOptions makes the dump a no-op
        raise RuntimeError(f"an earlier build of the Spark class archive failed (log: {log}); "
                           "gristmill runs without it; `python -m gristmill.pipeline.spark_cds build --force` "
                           "tries again")
    tmp = out_dir / f".{key}.{os.getpid()}.{time.time_ns()}.tmp"
    if not quiet:
        print("building Spark's class archive for a faster JVM start (once per Java and Spark version, "
              "about 30 s)", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        problem = None
        with open(log, "w") as fh:
            try:
                rc = subprocess.run([sys.executable, "-m", "gristmill.pipeline.spark_cds_dump", str(tmp)],
                                    stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    timeout=timeout).returncode
                problem = f"exit {rc}" if rc else None
            except subprocess.TimeoutExpired:
                problem = f"timed out after {timeout:.0f} s"
        if problem is None and (not tmp.is_file() or tmp.stat().st_size == 0):
            problem = "the JVM wrote no archive: does this java support -XX:ArchiveClassesAtExit?"
        if problem:
            failed.write_text(f"{problem}; log {log}\n")
            raise RuntimeError(f"building the Spark class archive failed ({problem}); its log is {log}. "
                               f"gristmill runs without it, only the JVM's start is slower")
        final = out_dir / f"{key}-{tmp.stat().st_size}.jsa"
        os.replace(tmp, final)
        failed.unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)
    _prune(key)
    if not quiet:
        print(f"Spark class archive: {final} ({final.stat().st_size / 2**20:.0f} MiB, built in "
              f"{time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return final


def _prune(key: str) -> None:
    """Keep this key's newest archive and the newest few of other keys; the rest only take disk."""
    mine = _archives(key)
    others = _newest_first(p for p in archive_dir().glob("*.jsa") if p not in mine)
    # a dump whose Python parent timed out still finishes writing after we gave up on it
    stale = [p for p in archive_dir().glob(".*.tmp") if time.time() - _mtime(p) > 3600]
    for p in mine[1:] + others[KEEP_OTHER:] + stale:
        p.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gristmill.pipeline.spark_cds",
                                description="Build the class-data-sharing archive that halves Spark's JVM start.")
    sub = p.add_subparsers(dest="cmd")
    b = sub.add_parser("build", help="build it unless one fits this java and Spark already (the default)")
    b.add_argument("--force", action="store_true", help="build again even if one exists")
    b.add_argument("--quiet", action="store_true")
    sub.add_parser("path", help="print the archive get_spark would use, or nothing")
    sub.add_parser("remove", help="delete every archive")
    args = p.parse_args(argv)
    if args.cmd == "path":
        path = usable_archive()
        if path:
            print(path)
    elif args.cmd == "remove":
        shutil.rmtree(archive_dir(), ignore_errors=True)
    else:
        try:
            build(force=getattr(args, "force", False), quiet=getattr(args, "quiet", False))
        except RuntimeError as e:
            print(f"warning: {e}", file=sys.stderr)  # a warning: callers such as bootstrap.sh go on
            return 1
        except OSError as e:
            print(f"warning: no Spark class archive: {e}; set GRISTMILL_CACHE to a writable folder "
                  "(gristmill runs without it, the JVM only starts slower)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
