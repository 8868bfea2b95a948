"""spark-submit to a real Spark standalone cluster (master + worker started here on loopback)."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import StandaloneCluster


@pytest.fixture
def standalone_cluster(tmp_path):
    cluster = StandaloneCluster(tmp_path, workers=1)
    yield cluster.url
    cluster.stop()


def test_submit_runs_pipeline_on_standalone_cluster(standalone_cluster, tmp_path, shared_data):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "cluster", "runs_dir": str(tmp_path / "runs"),
        "input": {"format": "jsonl", "path": str(shared_data / "web" / "dolma_ccnet_en_head_30docs.jsonl.gz")},
        "stages": [{"normalize": {}}, {"dedup_exact": {}}]}))
    r = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "submit", str(cfg), "--master",
                        standalone_cluster, "--executor-memory", "1g", "--total-executor-cores", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path / "runs" / "cluster" / "manifest.json").read_text())
    assert [s["status"] for s in m["stages"]] == ["done"] * 3 and m["stages"][0]["kept"] == 30
    app_dirs = list((tmp_path / "work0").glob("app-*"))
    assert app_dirs, "the job did not run on the standalone worker"
