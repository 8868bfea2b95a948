"""The run directory and failures (issue 13, items 4-6): safe names, one run per folder, stale stages,
content-aware hashes, the accounting check, and failures that name their cause in the manifest."""
import errno
import json
import os
import subprocess
import sys

import pytest

from gristmill.pipeline.config import parse_config
from gristmill.pipeline.lock import LOCK, acquire_lock
from gristmill.pipeline.runner import Runner
from gristmill.pipeline.stage import FitStage, StageError

TEXTS = ["The bakery on the corner opens at seven and sells rye bread until noon on weekdays.",
         "Volunteers cleared the river trail after the storm brought down a dozen old oaks.",
         "The orchestra rehearsed the symphony twice before the concert in the town hall.",
         "A short note.", "Students showed robotics projects to their parents on Thursday evening."]


def write_docs(path, n=5):
    if path.exists():  # rewriting would change its mtime, and so the input hash
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": TEXTS[i % 5], "url": f"http://site{i}.example/p"})
                            + "\n" for i in range(n)))
    return path


def runner(tmp_path, stages, name="r", inp=None, **kw):
    raw = {"name": name, "input": {"path": str(inp or write_docs(tmp_path / "in" / "a.jsonl"))}, "stages": stages}
    cfg, st = parse_config(raw)
    return Runner(config=cfg, stages=st, raw_config=raw, runs_dir=tmp_path / "runs", quiet=True, **kw)


def manifest(run_dir):
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.mark.parametrize("name", ["../victim", "/tmp/abs", "a/b", "..", ".", "x y", ""])
def test_run_name_is_one_safe_segment(tmp_path, name):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("keep me")
    with pytest.raises(StageError, match="not allowed|outside"):
        runner(tmp_path, [], name=name)
    assert (victim / "data.txt").read_text() == "keep me"


def test_existing_folder_that_is_not_a_run_is_refused(tmp_path):
    other = tmp_path / "runs" / "mine"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("x")
    with pytest.raises(StageError, match="not a gristmill run"):
        runner(tmp_path, [], name="mine")


def test_lock_names_a_live_holder_and_takes_over_a_dead_ones(tmp_path):
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import socket
        (run_dir / LOCK).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "t0"}))
        with pytest.raises(StageError, match=f"in use by pid {holder.pid}"):
            runner(tmp_path, []).run()
    finally:
        holder.kill()
        holder.wait()
    warnings = []
    lock = acquire_lock(run_dir, warn=warnings.append)  # the holder is dead now
    assert "no longer running" in warnings[0] and json.loads(lock.read_text())["pid"] == os.getpid()


class LosesARow(FitStage):
    """A broken stage for the accounting test: it drops a row without rejecting it."""
    name = "test_loses_a_row"

    def fit(self, df):
        pass

    def tag(self, df):
        return df.where("id != 'd1'")


def test_accounting_check_stops_a_stage_that_loses_rows(spark, tmp_path):
    with pytest.raises(StageError, match="01-test_loses_a_row does not balance: 5 rows in but 4 kept"):
        runner(tmp_path, [{"test_loses_a_row": {}}]).run()
    m = manifest(tmp_path / "runs" / "r")
    assert m["stages"][1]["status"] == "failed" and "does not balance" in m["stages"][1]["error"]
    assert not (tmp_path / "runs" / "r" / "01-test_loses_a_row").exists()
    stats = json.loads((tmp_path / "runs" / "r" / "00-read" / "stats.json").read_text())
    assert (stats["in"], stats["kept"], stats["rejected"], stats["balanced"]) == (5, 5, 0, True)


def test_blocklist_edit_reruns_that_stage_and_later_ones_and_shorter_pipeline_leaves_stale(spark, tmp_path):
    block = tmp_path / "blocked.txt"
    block.write_text("site0.example\n")
    stages = [{"normalize": {}}, {"url_filter": {"domain_lists": [str(block)]}}, {"length": {"min_chars": 20}}]
    run_dir = runner(tmp_path, stages).run()
    assert manifest(run_dir)["stages"][2]["rejected"] == 1
    block.write_text("site0.example\nsite2.example\n")  # same path, new content
    run_dir = runner(tmp_path, stages).run()
    status = [s["status"] for s in manifest(run_dir)["stages"]]
    assert status == ["skipped", "skipped", "done", "done"]
    assert manifest(run_dir)["stages"][2]["rejected"] == 2
    # the same name for a shorter pipeline: the later folders are stale, inspect ignores them
    run_dir = runner(tmp_path, stages[:1]).run()
    st = {s["dir"]: s["status"] for s in manifest(run_dir)["stages"]}
    assert st == {"00-read": "skipped", "01-normalize": "skipped", "02-url_filter": "stale", "03-length": "stale"}
    from gristmill.pipeline.inspection.run import Run
    run = Run(run_dir)
    assert [s.dir for s in run.done()] == ["00-read", "01-normalize"]
    assert run.query("SELECT count(*) FROM final")[1][0][0] == 5


def test_disk_full_names_the_device_and_marks_the_stage_failed(spark, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (not root?); the simulated ENOSPC test covers the message")
    try:
        inp = tmp_path / "in" / "big.jsonl"
        inp.parent.mkdir()
        inp.write_text("".join(json.dumps({"text": os.urandom(3000).hex()}) + "\n" for _ in range(1500)))
        raw = {"name": "full", "input": {"path": str(inp)}, "stages": []}
        cfg, st = parse_config(raw)
        r = Runner(config=cfg, stages=st, raw_config=raw, runs_dir=mnt, quiet=True)
        with pytest.raises(StageError) as e:
            r.run()
        assert "no space left" in str(e.value) and "resume" in str(e.value)
        m = manifest(mnt / "full")
        assert m["stages"][0]["status"] == "failed" and "no space left" in m["stages"][0]["error"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def test_simulated_enospc_and_interrupt_are_recorded(spark, tmp_path, monkeypatch):
    import gristmill.pipeline.runner as runner_mod

    def full(spark, cfg, work, rows_acc=None):  # the read stage's writer (its workers write kept/ themselves)
        raise OSError(errno.ENOSPC, "No space left on device", str(work / "kept"))
    monkeypatch.setattr(runner_mod, "run_read_stage", full)
    with pytest.raises(StageError, match=r"no space left on the device holding .*kept"):
        runner(tmp_path, []).run()

    def ctrl_c(spark, cfg, work, rows_acc=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner_mod, "run_read_stage", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        runner(tmp_path, []).run()
    m = manifest(tmp_path / "runs" / "r")
    assert m["stages"][0]["status"] == "interrupted" and "resume" in m["stages"][0]["error"]
    assert not (tmp_path / "runs" / "r" / LOCK).exists()  # released on the way out


def test_dead_jvm_and_lost_executor_messages():
    from py4j.protocol import Py4JNetworkError

    from gristmill.pipeline.errors import explain
    msg = explain(Py4JNetworkError("Answer from Java side is empty"), "03-dedup_exact", driver_memory="6g")
    assert "JVM died" in msg and "spark.driver_memory" in msg and "(now 6g)" in msg and "03-dedup_exact" in msg
    assert "resume" in explain(KeyboardInterrupt(), "01-normalize")
    assert "executor was lost" in explain(RuntimeError("ExecutorLostFailure (executor 3 exited)"))
    assert explain(ValueError("something else")) is None


def test_quiet_prints_nothing_and_the_jvm_banner_goes_to_the_log(tmp_path):
    inp = write_docs(tmp_path / "in" / "a.jsonl")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"name": "q", "input": {"path": str(inp)},
                               "spark": {"master": "local[1]", "driver_memory": "1g"}, "stages": []}))
    out = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "run", str(cfg), "--quiet",
                          "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "" and out.stdout == f"{tmp_path / 'runs' / 'q'}: read 5, kept 5, rejected 0\n"
    assert (tmp_path / "runs" / "q" / "spark.log").exists()


def test_a_jvm_killed_by_a_signal_is_named_not_called_out_of_memory(tmp_path):
    # a real local JVM, killed with SIGKILL, in a child process so this session's Spark lives on
    script = tmp_path / "kill_jvm.py"
    script.write_text(
        "import os, signal\n"
        "from pyspark.sql import SparkSession\n"
        "from gristmill.pipeline.errors import explain\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()\n"
        "os.kill(spark.sparkContext._gateway.proc.pid, signal.SIGKILL)\n"
        "try:\n"
        "    spark.range(10).count()\n"
        "except Exception as e:\n"
        "    print('MSG:', explain(e, '02-quality', driver_memory='2g'))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300).stdout
    assert "MSG:" in out, out
    msg = out.split("MSG:", 1)[1]
    assert "signal 9 (SIGKILL)" in msg and "02-quality" in msg and "resume" in msg
    assert "most likely out of memory" not in msg
