"""spark-submit to a real Spark standalone cluster (master + worker started here on loopback)."""
import json
import subprocess
import sys

import pytest
import yaml
from helpers import StandaloneCluster


@pytest.fixture
def standalone_cluster(tmp_path):
    cluster = StandaloneCluster(tmp_path, workers=1)
    yield cluster.url
    cluster.stop()


def test_submit_runs_pipeline_on_standalone_cluster(standalone_cluster, tmp_path):
    from helpers import TEST_DATA
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "cluster", "runs_dir": str(tmp_path / "runs"),
        "input": {"format": "jsonl", "path": str(TEST_DATA / "web" / "dolma_ccnet_en_head_30docs.jsonl.gz")},
        "stages": [{"normalize": {}}, {"dedup_exact": {}}]}))
    r = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "submit", str(cfg), "--master",
                        standalone_cluster, "--executor-memory", "1g", "--total-executor-cores", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path / "runs" / "cluster" / "manifest.json").read_text())
    assert [s["status"] for s in m["stages"]] == ["done"] * 3 and m["stages"][0]["kept"] == 30
    app_dirs = list((tmp_path / "work0").glob("app-*"))
    assert app_dirs, "the job did not run on the standalone worker"
    out = r.stdout + r.stderr  # spark-submit passes the Python driver's stderr on through its own stdout
    assert f"Spark master {standalone_cluster}" in out and "UI http" in out


def dry_run(*extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "submit", "c.yaml", "--dry-run", *extra],
                          capture_output=True, text=True)


def test_env_archive_ships_with_the_job_and_executors_run_its_python(tmp_path):
    archive = tmp_path / "env.tar.gz"
    archive.write_bytes(b"packed")  # only the command is built here; scripts/pack_env.sh makes real ones
    r = dry_run("--master", "yarn", "--deploy-mode", "cluster", "--env-archive", str(archive))
    assert r.returncode == 0, r.stderr
    cmd = r.stdout.split()
    assert cmd[cmd.index("--archives") + 1] == f"{archive}#gristmill_env"
    assert "spark.pyspark.python=./gristmill_env/bin/python" in cmd
    assert "spark.pyspark.driver.python=./gristmill_env/bin/python" in cmd  # cluster mode: the driver ships too
    assert cmd[cmd.index("--deploy-mode") + 1] == "cluster"
    r = dry_run("--master", "yarn", "--env-archive", str(archive))  # client mode: the driver is this process
    assert f"spark.pyspark.driver.python={sys.executable}" in r.stdout.split()


def test_bad_submissions_say_what_to_do(tmp_path):
    r = dry_run("--master", "spark://h:7077", "--deploy-mode", "cluster")
    assert r.returncode == 2 and "standalone cannot run a Python driver in cluster mode" in r.stderr
    r = dry_run("--master", "yarn", "--env-archive", str(tmp_path / "missing.tar.gz"))
    assert r.returncode == 2 and "scripts/pack_env.sh" in r.stderr
