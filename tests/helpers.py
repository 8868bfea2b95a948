"""Helpers the tests share: documents as a DataFrame, and one stage applied as the runner applies it."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"  # small real samples with licence and origin (tests/data/README.md)


def docs_df(spark, rows: list[dict]):
    """A DataFrame shaped like the reader's output from a few hand-written documents."""
    import pyarrow as pa
    base = {"id": None, "text": None, "source": "test", "url": None}
    full = [{**base, **r} for r in rows]
    cols = list(dict.fromkeys(k for r in full for k in r))
    table = pa.Table.from_pylist(full, schema=pa.schema([(c, _arrow_type(full, c)) for c in cols]))
    return spark.createDataFrame(table.to_pandas())


def _arrow_type(rows, col):
    import pyarrow as pa
    vals = [r.get(col) for r in rows if r.get(col) is not None]
    if vals and isinstance(vals[0], bool):
        return pa.bool_()
    if vals and isinstance(vals[0], int):
        return pa.int64()
    if vals and isinstance(vals[0], float):
        return pa.float64()
    return pa.string()


def run_stage(spark, name: str, params: dict, rows_or_df, tmp_path: Path | None = None):
    """Run one registered stage through the runner's own path (runner.execute_stage: columns checked, split
    into kept/ and rejected/ Parquet, accounting by count and by id); returns (kept, rejected, stats), the rows
    as lists of dicts read back from the Parquet the runner wrote, in the order Spark wrote them."""
    import shutil

    from gristmill.pipeline.runner import execute_stage
    from gristmill.pipeline.stage import StageContext, get_stage
    cls = get_stage(name)
    df = rows_or_df if hasattr(rows_or_df, "schema") else docs_df(spark, rows_or_df)
    work = Path(tmp_path or "/tmp") / f"stage-{name}"  # the stage's folder: artifacts, kept/, rejected/
    work.mkdir(parents=True, exist_ok=True)
    for old in ("kept", "rejected", "_parts"):
        shutil.rmtree(work / old, ignore_errors=True)
    ctx = StageContext(spark=spark, run_dir=work, work_dir=work, stage_dir=work, index=1, name=name,
                       extra={"input_rows": None})
    stage = cls(cls.Config.model_validate(params), ctx)
    _, extra = execute_stage(stage, df, work)
    return _rows(work / "kept"), _rows(work / "rejected"), extra


def _rows(folder: Path) -> list[dict]:
    """Parquet rows as Spark's Row.asDict() gives them (maps as dicts), files in the order Spark named them."""
    import pyarrow.parquet as pq
    out = []
    for f in sorted(folder.glob("*.parquet")):
        table = pq.read_table(f)
        maps = [fld.name for fld in table.schema if str(fld.type).startswith("map<")]
        for r in table.to_pylist():
            out.append({k: (dict(v) if k in maps and v is not None else v) for k, v in r.items()})
    return out


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandaloneCluster:
    """A real Spark standalone cluster on loopback: one master and `workers` workers (1 core, 1 GB each)."""

    def __init__(self, base: Path, workers: int = 1):
        import os
        import subprocess
        import time

        import pyspark
        self.base = base
        spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(base))
        port = free_port()
        self.url = f"spark://127.0.0.1:{port}"
        self.procs = [subprocess.Popen([str(spark_class), "org.apache.spark.deploy.master.Master", "--host",
                                        "127.0.0.1", "--port", str(port), "--webui-port", str(free_port())], env=env,
                                       stdout=open(base / "master.log", "w"), stderr=subprocess.STDOUT)]
        self.work_dirs = []
        for w in range(workers):
            work = base / f"work{w}"
            self.work_dirs.append(work)
            self.procs.append(subprocess.Popen(
                [str(spark_class), "org.apache.spark.deploy.worker.Worker", self.url, "--cores", "1", "--memory", "1g",
                 "--webui-port", str(free_port()), "--work-dir", str(work)],
                env=env, stdout=open(base / f"worker{w}.log", "w"), stderr=subprocess.STDOUT))
        deadline = time.time() + 180
        logs = [base / f"worker{w}.log" for w in range(workers)]
        while time.time() < deadline and not all("Successfully registered with master" in p.read_text() for p in logs):
            time.sleep(0.5)
        for p in logs:
            assert "Successfully registered" in p.read_text(), p.read_text()[-2000:]

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
            p.wait(timeout=60)


def build_mixture(folder, domains: dict, vocab_size: int, weights: dict | None = None,
                  max_epochs: float | None = None) -> Path:
    """{domain: (train_ids, heldout_ids)} -> shards + mixture.json (weights default to natural)."""
    import numpy as np

    from gristmill.trainer_hooks.mixture import DomainEntry, MixtureSpec, save_mixture
    folder = Path(folder)
    dtype = "uint16" if vocab_size <= 65535 else "uint32"
    total = sum(len(t) for t, _ in domains.values())
    entries = {}
    for name, (train_ids, held_ids) in domains.items():
        files = {}
        for split, ids in (("train", train_ids), ("heldout", held_ids)):
            files[split] = []
            if len(ids):
                rel = f"shards/{split}/{name}.bin"
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                np.asarray(ids, dtype=dtype).tofile(folder / rel)
                files[split].append(rel)
        w = weights.get(name, 0.0) if weights else len(train_ids) / total
        entries[name] = DomainEntry(files=files["train"], tokens=len(train_ids), weight=float(w),
                                    epochs=w * total / len(train_ids) if len(train_ids) else 0.0,
                                    heldout_files=files["heldout"], heldout_tokens=len(held_ids))
    spec = MixtureSpec(dtype=dtype, tokenizer={"path": None, "vocab_size": vocab_size, "eos_id": 0},
                       budget_tokens=total, domains=entries, max_epochs=max_epochs)
    return save_mixture(spec, folder / "mixture.json")


def python_env_docs(sources=("package_license", "python_docs", "package_description")) -> list[dict]:
    """Real text on every machine (the quickstart corpus: this Python's licences, reference docs, READMEs),
    shaped like reader output. Licences repeat across packages, so it holds exact and near duplicates."""
    from gristmill.pipeline.inputs.pkgcorpus import iter_documents
    return [{"id": d["id"], "text": d["text"], "source": d["source"]} for d in iter_documents()
            if d["source"] in sources]
