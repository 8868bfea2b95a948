"""Executors killed in the middle of stages on a real 2-worker standalone cluster: Spark retries their tasks and
the run's outputs equal an undisturbed run's on the same cluster. The run is issue 19's: read -> normalize ->
dedup_minhash -> domain -> select (facility location, distributed) -> mix; one executor dies inside MinHash, the
other inside the distributed selection's Spark jobs (after the embeddings are written, while the partitions'
greedy runs), losing the vectors it had cached."""
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
import numpy as np
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
        domain = "early" if i < n // 2 else "late"
        rows.append({"id": f"std-{i:04d}", "text": text, "domain": domain})
        if i % 4 == 0:
            rows.append({"id": f"copy-{i:04d}", "text": text.replace("def ", "def  ", 1) + "\n# copied",
                         "domain": domain})
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


def stage_running(runs: Path, name: str, stage: str) -> bool:
    try:
        stages = json.loads((runs / name / "manifest.json").read_text()).get("stages", [])
    except (OSError, ValueError):
        return False
    return any(s.get("name") == stage and s.get("status") == "running" for s in stages)


def submit(cluster, cfg: Path, name: str, runs: Path, kills: list[tuple[str, Path]] = ()) -> dict:
    """kills: (stage, a worker's work dir): once the stage runs, SIGKILL that worker's executor. For select,
    only after the embeddings are written (meta.json), so the kill lands in the selection's own Spark jobs."""
    killed: dict[str, list[int]] = {}

    def killer():
        deadline = time.time() + 1200
        for stage, work in kills:
            while time.time() < deadline:
                ready = stage_running(runs, name, stage) and (
                    stage != "select" or any((runs / name / "embeddings").glob("*/meta.json")))
                if ready:
                    time.sleep(3 if stage != "select" else 1)  # inside the stage's Spark jobs, not at its start
                    killed[stage] = executors_of(work)
                    for pid in killed[stage]:
                        os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.2)

    t = threading.Thread(target=killer, daemon=True) if kills else None
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
    """Every stage's kept and rejected ids with their drop reasons, the selection (id, rank), and the mixture:
    mixture.json less its shard file names (which carry task attempt numbers), the tokenizer, and each
    domain's token histogram per split (the packed order follows Spark's partition order, the tokens do not)."""
    out = {}
    for stage in sorted(p for p in run.iterdir() if p.is_dir() and p.name[:2].isdigit()):
        for part in ("kept", "rejected"):
            if (stage / part).is_dir():
                rows = duckdb.sql(f"SELECT id, drop_reason FROM read_parquet('{stage}/{part}/*.parquet') "
                                  f"ORDER BY id").fetchall()
                out[f"{stage.name}/{part}"] = rows
    sel = next(run.glob("*-select/selection/selection.parquet"))
    q = f"SELECT id, select_rank FROM read_parquet('{sel}/**/*.parquet') ORDER BY 2"
    out["selection"] = duckdb.sql(q).fetchall()
    mixture = json.loads((run / "mixture.json").read_text())
    for name, d in mixture["domains"].items():
        for split in ("files", "heldout_files"):
            tokens = [np.fromfile(run / f, dtype=mixture["dtype"]) for f in d.pop(split)]
            out[f"mix/{name}/{split}"] = np.bincount(np.concatenate(tokens)).tolist() if tokens else []
    out["mixture.json"] = mixture
    out["tokenizer"] = (run / mixture["tokenizer"]["path"]).read_text()
    return out


def test_executors_killed_mid_minhash_and_mid_select_give_identical_output(tmp_path):
    data = tmp_path / "docs.jsonl"
    corpus(data)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "input": {"format": "jsonl", "path": str(data), "keep_fields": ["domain"]},
        "stages": [{"normalize": {}}, {"dedup_minhash": {"num_perm": 128, "bands": 16, "threshold": 0.7}},
                   {"domain": {"from": "column", "column": "domain"}}],
        "select": {"selector": "facility_location", "budget": 0.5, "distributed": True, "max_tokens": 64,
                   "params": {"graphs": "partition", "partition_size": 25}},
        "mix": {"weights": "natural", "vocab_size": 512, "heldout_fraction": 0.1}}))
    cluster = StandaloneCluster(tmp_path, workers=2)
    try:
        calm = submit(cluster, cfg, "calm", tmp_path / "runs")
        hit = submit(cluster, cfg, "hit", tmp_path / "runs",
                     kills=[("dedup_minhash", cluster.work_dirs[0]), ("select", cluster.work_dirs[1])])
    finally:
        cluster.stop()
    assert calm["killed"] == {}
    assert hit["killed"].get("dedup_minhash") and hit["killed"].get("select"), \
        f"an executor was not running when its stage was: {hit['killed']}"
    a, b = outputs(tmp_path / "runs" / "calm"), outputs(tmp_path / "runs" / "hit")
    assert a.keys() == b.keys() and [k for k in a if a[k] != b[k]] == []
    assert any(r[1] == "dup:near" for r in a[next(k for k in a if k.endswith("dedup_minhash/rejected"))])
    assert len(a["selection"]) > 0 and any(k.startswith("mix/") and a[k] for k in a)
