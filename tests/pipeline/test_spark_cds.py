"""The driver JVM starts from a class-data-sharing archive, and a bad archive never stops Spark from starting.

Real JVMs and real Spark, each in a fresh Python process (the session's `spark` fixture already has a JVM)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gristmill.pipeline import spark_cds

# A fresh process starts Spark through get_spark, runs one job and reports what its JVM was given.
PROBE = r"""
import json, sys
from gristmill.pipeline.spark import SparkConfig, get_spark
spark = get_spark(SparkConfig(master="local[1]", driver_memory="1g", shuffle_partitions=1,
                              conf={"spark.driver.extraJavaOptions": sys.argv[1]}))
n = spark.range(5).count()
jvm = spark.sparkContext._jvm
args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
print("PROBE", json.dumps({"count": n, "args": args}))
"""


def _probe(cache: Path, tmp_path: Path, extra_env: dict | None = None) -> tuple[dict, str, Path]:
    """Start Spark in a new process with GRISTMILL_CACHE=cache; return its report, its stdout and its class log."""
    class_log = tmp_path / f"classes-{len(list(tmp_path.glob('classes-*')))}.log"
    env = {**os.environ, "GRISTMILL_CACHE": str(cache), **(extra_env or {})}
    proc = subprocess.run([sys.executable, "-c", PROBE, f"-Xlog:class+load=info:file={class_log}"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line[len("PROBE "):]), proc.stdout, class_log


def _from_archive(class_log: Path, cls: str = "org.apache.spark.SparkContext") -> bool:
    return f"{cls} source: shared objects file (top)" in class_log.read_text()


@pytest.fixture(scope="module")
def built(tmp_path_factory, monkeypatch_module):
    cache = tmp_path_factory.mktemp("my cache")  # a space: the launcher must get the path quoted
    monkeypatch_module.setenv("GRISTMILL_CACHE", str(cache))
    path = spark_cds.build(quiet=True)
    return cache, path


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_spark_starts_from_the_archive(built, tmp_path):
    cache, path = built
    assert path.parent == cache / "spark-cds" and path.stat().st_size > 10 * 2**20
    assert spark_cds.build(quiet=True) == path  # a second build finds it, builds nothing
    report, stdout, class_log = _probe(cache, tmp_path)
    assert report["count"] == 5
    args = report["args"]
    # the archive reached the driver JVM, beside gristmill's log4j option and the user's own (appended last)
    assert f"-XX:SharedArchiveFile={path}" in args
    assert any(a.startswith("-Dlog4j.configurationFile=") for a in args)
    assert args.index(f"-XX:SharedArchiveFile={path}") < args.index(f"-Xlog:class+load=info:file={class_log}")
    # and the JVM really mapped it: Spark's classes came from the archive, not from the jars
    assert _from_archive(class_log)


def test_switched_off(built, monkeypatch):
    from gristmill.pipeline.spark import SparkConfig, _driver_java_options
    cache, path = built
    assert _driver_java_options(SparkConfig(jit="full"), launches_jvm=True)[1:] == spark_cds.java_options(path)
    # a JVM already up (spark-submit, a notebook) takes no options
    assert not any("Shared" in o for o in _driver_java_options(SparkConfig(), launches_jvm=False))
    assert not any("Shared" in o for o in _driver_java_options(SparkConfig(class_archive=False), True))
    monkeypatch.setenv("GRISTMILL_SPARK_CDS", "0")
    assert not any("Shared" in o for o in _driver_java_options(SparkConfig(), launches_jvm=True))


def test_corrupt_archive_still_starts_quietly(built, tmp_path):
    """Bytes changed in place (same size): the JVM's CRC check refuses it, silently, and Spark starts."""
    cache, path = built
    bad_cache = tmp_path / "cache"
    bad = bad_cache / "spark-cds" / path.name
    bad.parent.mkdir(parents=True)
    data = bytearray(path.read_bytes())
    for off in range(len(data) // 3, len(data) // 3 + 200 * 4096, 4096):
        data[off:off + 64] = os.urandom(64)
    bad.write_bytes(bytes(data))
    report, stdout, class_log = _probe(bad_cache, tmp_path)
    assert report["count"] == 5
    assert f"-XX:SharedArchiveFile={bad}" in report["args"]
    assert not _from_archive(class_log)
    jvm_said = "\n".join(x for x in stdout.splitlines() if not x.startswith("PROBE "))
    assert "[cds" not in jvm_said and "shared archive" not in jvm_said.lower(), jvm_said[-2000:]


def test_truncated_archive_is_never_passed(tmp_path, monkeypatch):
    """Java 17 dies with SIGBUS on a truncated archive, so one whose size differs from its name is skipped."""
    monkeypatch.setenv("GRISTMILL_CACHE", str(tmp_path))
    key = spark_cds.archive_key()
    d = tmp_path / "spark-cds"
    d.mkdir()
    (d / f"{key}-5000000.jsa").write_bytes(b"\0" * 1000)  # cut short
    (d / f"{key}-oops.jsa").write_bytes(b"\0" * 10)
    assert spark_cds.usable_archive() is None
    assert spark_cds.java_options() == []
    whole = d / f"{key}-123.jsa"
    whole.write_bytes(b"\0" * 123)
    assert spark_cds.usable_archive() == whole
    assert spark_cds.java_options()[0] == f"-XX:SharedArchiveFile={whole}"


def test_key_follows_the_jar_set(tmp_path, monkeypatch):
    home = tmp_path / "spark"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / "a.jar").write_bytes(b"x" * 10)
    monkeypatch.setenv("SPARK_HOME", str(home))
    k1 = spark_cds.archive_key()
    (home / "jars" / "a.jar").write_bytes(b"x" * 11)
    k2 = spark_cds.archive_key()
    (home / "jars" / "b.jar").write_bytes(b"y")
    k3 = spark_cds.archive_key()
    assert None not in (k1, k2, k3) and len({k1, k2, k3}) == 3



def test_a_failed_build_is_not_retried_by_every_bootstrap(tmp_path, monkeypatch):
    """spark-submit refuses a bad argument: the build fails with its log, and only --force tries again."""
    monkeypatch.setenv("GRISTMILL_CACHE", str(tmp_path))
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--no-such-option pyspark-shell")
    with pytest.raises(RuntimeError, match="build.log"):
        spark_cds.build(quiet=True)
    assert "no-such-option" in next((tmp_path / "spark-cds").glob("*.build.log")).read_text()
    with pytest.raises(RuntimeError, match="--force"):
        spark_cds.build(quiet=True)
    assert spark_cds.usable_archive() is None and not list((tmp_path / "spark-cds").glob("*.tmp"))
