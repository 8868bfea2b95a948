"""spark-submit to a real Spark standalone cluster (master + worker started here on loopback)."""
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def standalone_cluster(tmp_path):
    import pyspark
    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    port, ui = free_port(), free_port()
    env = {"SPARK_LOCAL_IP": "127.0.0.1", "PATH": "/usr/bin:/bin", "SPARK_LOG_DIR": str(tmp_path)}
    import os
    env = dict(os.environ, **env)
    master = subprocess.Popen([str(spark_class), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(ui)], env=env,
                              stdout=open(tmp_path / "master.log", "w"), stderr=subprocess.STDOUT)
    url = f"spark://127.0.0.1:{port}"
    worker = subprocess.Popen([str(spark_class), "org.apache.spark.deploy.worker.Worker", url, "--cores", "1",
                               "--memory", "1g", "--webui-port", str(free_port()), "--work-dir", str(tmp_path / "work")],
                              env=env, stdout=open(tmp_path / "worker.log", "w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline and "Successfully registered with master" not in (tmp_path / "worker.log").read_text():
        time.sleep(0.5)
    assert "Successfully registered" in (tmp_path / "worker.log").read_text(), (tmp_path / "worker.log").read_text()[-2000:]
    yield url
    for p in (worker, master):
        p.terminate()
        p.wait(timeout=30)


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
    app_dirs = list((tmp_path / "work").glob("app-*"))
    assert app_dirs, "the job did not run on the standalone worker"
