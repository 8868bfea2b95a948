"""SparkConfig.jit: the driver JVM we start runs C1 only on a small local machine, C1+C2 when asked."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gristmill.pipeline import spark as gs

PROBE = """
import json, sys
from gristmill.pipeline.spark import SparkConfig, get_spark
s = get_spark(SparkConfig(master="local[1]", driver_memory="1g", jit=sys.argv[1]))
jvm = s.sparkContext._jvm
bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
    jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean"))
assert s.range(10).count() == 10
print("PROBE", json.dumps({"tiered_stop": bean.getVMOption("TieredStopAtLevel").getValue()}))
s.stop()
"""


def _tiered_stop(jit: str) -> str:
    proc = subprocess.run([sys.executable, "-c", PROBE, jit], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])["tiered_stop"]


@pytest.mark.parametrize("jit, level", [("quick", "1"), ("full", "4")])
def test_the_driver_jvm_runs_the_compiler_asked_for(jit, level):
    assert _tiered_stop(jit) == level


def test_auto_is_quick_only_for_a_local_master_on_few_cores(spark, monkeypatch):
    # with a session up (its JVM holds spark.master=local[2]) the config's master is what is judged
    monkeypatch.setattr(gs.os, "cpu_count", lambda: 2)
    assert gs.quick_jit(gs.SparkConfig(master="local[2]"))
    assert not gs.quick_jit(gs.SparkConfig(master="spark://host:7077"))
    assert not gs.quick_jit(gs.SparkConfig(), master="spark://host:7077")  # spark-submit's --master wins
    assert not gs.quick_jit(gs.SparkConfig(master="local[2]", jit="full"))
    monkeypatch.setattr(gs.os, "cpu_count", lambda: 16)
    assert not gs.quick_jit(gs.SparkConfig(master="local[*]"))
    assert gs.quick_jit(gs.SparkConfig(master="local[*]", jit="quick"))


def test_a_jvm_we_did_not_start_takes_no_option():
    assert "-XX:TieredStopAtLevel=1" not in gs._driver_java_options(gs.SparkConfig(jit="quick"), launches_jvm=False)
    assert "-XX:TieredStopAtLevel=1" in gs._driver_java_options(gs.SparkConfig(jit="quick"), launches_jvm=True)
