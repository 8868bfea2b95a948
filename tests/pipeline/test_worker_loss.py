"""A worker's executor killed in the middle of a global stage on a real 2-worker standalone cluster: Spark
retries its tasks and the run's outputs equal an undisturbed run's on the same cluster."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from helpers import StandaloneCluster

pytestmark = pytest.mark.slow


def corpus(path: Path, n: int = 100) -> None:
    """Real text every machine has (the standard library's sources) plus lightly edited copies of some."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:n]
    rows = []
    for i, f in enumerate(files):
        text = f.read_text(encoding="utf-8", errors="replace")[:4000]
        rows.append({"id": f"std-{i:04d}", "text": text})
        if i % 4 == 0:
            rows.append({"id": f"copy-{i:04d}", "text": text.replace("def ", "def  ", 1) + "\n# copied"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def executors_of(work: Path) -> list[int]:
    """PIDs of executor JVMs whose working folder lies under a worker's work dir."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if b"CoarseGrainedExecutorBackend" in cmd and cwd.startswith(str(work)):
            out.append(int(pid))
    return out


def submit(cluster, cfg: Path, name: str, runs: Path, kill_in: Path | None = None) -> dict:
    killed = []

    def killer():
        manifest = runs / name / "manifest.json"
        deadline = time.time() + 900
        while time.time() < deadline:
            try:
                stages = json.loads(manifest.read_text()).get("stages", [])
            except (OSError, ValueError):
                stages = []
            if any(s.get("name") == "dedup_minhash" and s.get("status") == "running" for s in stages):
                time.sleep(3)  # inside the stage's Spark jobs, not at its start
                for pid in executors_of(kill_in):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                return
            time.sleep(0.2)

    t = threading.Thread(target=killer, daemon=True) if kill_in else None
    if t:
        t.start()
    r = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "submit", str(cfg), "--master", cluster.url,
                        "--name", name, "--runs-dir", str(runs), "--executor-memory", "1g",
                        "--total-executor-cores", "2", "--conf", "spark.task.maxFailures=4"],
                       capture_output=True, text=True, timeout=1500)
    if t:
        t.join(timeout=5)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"killed": killed}


def outputs(run: Path) -> dict:
    out = {}
    for stage in sorted(p for p in run.iterdir() if p.is_dir() and p.name[:2].isdigit()):
        for part in ("kept", "rejected"):
            rows = duckdb.sql(f"SELECT id, drop_reason FROM read_parquet('{stage}/{part}/*.parquet') ORDER BY id").fetchall()
            out[f"{stage.name}/{part}"] = rows
    sel = next(run.glob("*-select/selection/selection.parquet"))
    out["selection"] = duckdb.sql(f"SELECT id, select_rank FROM read_parquet('{sel}/**/*.parquet') ORDER BY 2").fetchall()
    return out


def test_executor_killed_mid_minhash_gives_identical_output(tmp_path):
    data = tmp_path / "docs.jsonl"
    corpus(data)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "input": {"format": "jsonl", "path": str(data)},
        "stages": [{"normalize": {}}, {"dedup_minhash": {"num_perm": 128, "bands": 16, "threshold": 0.7}}],
        "select": {"selector": "facility_location", "budget": 0.5, "distributed": True, "max_tokens": 64,
                   "params": {"partition_size": 25}}}))
    cluster = StandaloneCluster(tmp_path, workers=2)
    try:
        calm = submit(cluster, cfg, "calm", tmp_path / "runs")
        hit = submit(cluster, cfg, "hit", tmp_path / "runs", kill_in=cluster.work_dirs[0])
    finally:
        cluster.stop()
    assert calm["killed"] == [] and hit["killed"], "no executor was running on worker 0 during dedup_minhash"
    a, b = outputs(tmp_path / "runs" / "calm"), outputs(tmp_path / "runs" / "hit")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert any(r[1] == "dup:near" for r in a[next(k for k in a if k.endswith("dedup_minhash/rejected"))])
