"""The storage layer and the run directory on two real filesystems: local (file://) and an S3-compatible
server on loopback (moto's server mode, through pyarrow's S3 client). What needs Spark's S3A connector
(Spark writing Parquet to s3a://) cannot run here: see docs/storage.md."""
from __future__ import annotations

import json
import threading
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import free_port

from gristmill.pipeline import lock as lock_mod
from gristmill.pipeline import rundir, storage
from gristmill.pipeline.stage import StageError


@pytest.fixture(scope="module")
def s3_endpoint():
    pytest.importorskip("moto", reason="moto[server] (the dev extra) runs the S3-compatible server")
    from moto.server import ThreadedMotoServer
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()
    storage.configure("s3")  # no options: later tests build S3 filesystems from the environment again


@pytest.fixture(params=["file", "s3"])
def root(request, tmp_path):
    """A fresh folder URI on each filesystem: file://<tmp>, or s3://<new bucket>/base."""
    if request.param == "file":
        return f"file://{tmp_path}/base"
    endpoint = request.getfixturevalue("s3_endpoint")
    storage.configure("s3", endpoint_override=endpoint, scheme="http", region="us-east-1",
                      access_key="testing", secret_key="testing", allow_bucket_creation=True)
    bucket = f"gm-{uuid.uuid4().hex[:12]}"
    storage.path(f"s3://{bucket}").fs.create_dir(bucket)
    return f"s3://{bucket}/base"


def test_uris_map_to_what_spark_and_pyarrow_expect(tmp_path):
    assert storage.spark_uri("s3://bkt/a/b") == "s3a://bkt/a/b"
    assert storage.spark_uri("gs://bkt/a") == "gs://bkt/a"
    assert storage.spark_uri("hdfs://nn:8020/runs") == "hdfs://nn:8020/runs"
    assert storage.path(f"file://{tmp_path}") == tmp_path  # local stays a plain Path
    assert storage.path("runs/x") == type(tmp_path)("runs/x")
    assert storage.has_rename(tmp_path) and storage.has_rename(storage.path("hdfs://nn/x"))
    assert not storage.has_rename(storage.path("s3://b/x")) and not storage.has_rename(storage.path("abfss://c@a/x"))
    with pytest.raises(storage.StorageError, match="unknown filesystem 'ftp'"):
        storage.path("ftp://host/x")
    p = storage.path("s3://bkt/runs") / "web" / "00-read"
    assert p.uri == "s3://bkt/runs/web/00-read" and str(p) == "s3a://bkt/runs/web/00-read"
    assert p.name == "00-read" and p.parent.name == "web" and p.parent.parent == storage.path("s3a://bkt/runs")


def test_hadoop_settings_follow_the_configured_endpoint():
    storage.configure("s3", endpoint_override="minio:9000", scheme="http", region="eu-west-1")
    try:
        conf = storage.hadoop_conf()
    finally:
        storage.configure("s3")
    assert conf == {"spark.hadoop.fs.s3a.endpoint": "http://minio:9000",
                    "spark.hadoop.fs.s3a.path.style.access": "true",
                    "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
                    "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1"}


def test_atomic_json_leaves_only_the_file(root):
    base = storage.path(root)
    base.mkdir(parents=True, exist_ok=True)
    target = base / "manifest.json"
    rundir.write_json_atomic(target, {"a": 1})
    rundir.write_json_atomic(target, {"a": 2, "b": [1, 2]})
    assert rundir.read_json(target) == {"a": 2, "b": [1, 2]}
    assert [p.name for p in base.iterdir()] == ["manifest.json"]  # no temporary file left
    assert rundir.read_json(base / "missing.json") is None


def test_listing_and_glob(root):
    base = storage.path(root)
    for rel in ("a/x.jsonl", "a/b/y.jsonl", "a/b/z.txt", "c.jsonl"):
        f = base / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("{}\n")
    assert [p.name for p in base.iterdir()] == ["a", "c.jsonl"]
    assert base.is_dir() and (base / "c.jsonl").is_file() and not (base / "nope").exists()
    assert [p.name for p in base.glob("*.jsonl")] == ["c.jsonl"]
    assert sorted(str(p.relative_to(base)) for p in base.glob("**/*.jsonl")) == ["a/b/y.jsonl", "a/x.jsonl",
                                                                                 "c.jsonl"]
    assert sorted(p.name for p in (base / "a").rglob("*.txt")) == ["z.txt"]
    assert (base / "c.jsonl").stat().st_size == 3
    storage.rmtree(base / "a")
    assert [p.name for p in base.iterdir()] == ["c.jsonl"]


def _attempt(run, dirname: str, h: str, rows: int):
    """A stage's work folder with a Parquet file in kept/, as the runner leaves it before commit."""
    work = rundir.new_work_dir(run, dirname)
    kept = work / "kept"
    kept.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": [f"d{i}" for i in range(rows)]})
    if isinstance(kept, storage.RemotePath):
        pq.write_table(table, (kept / "part-0.parquet").fs_path, filesystem=kept.fs)
    else:
        pq.write_table(table, kept / "part-0.parquet")
    return work, {"stage": "x", "hash": h, "in": rows, "kept": rows, "rejected": 0}


def test_commit_by_rename_or_marker_and_resume_after_a_killed_commit(root):
    run = storage.path(root) / "run"
    run.mkdir(parents=True, exist_ok=True)
    name = "01-length"
    final = run / name

    work, stats = _attempt(run, name, "h1", 3)
    assert rundir.is_complete(rundir.stage_location(run, name), "h1") is False
    rundir.commit_stage(work, final, stats)
    done = rundir.stage_location(run, name)
    if storage.has_rename(run):
        assert done == final and final.is_dir() and not work.exists()  # renamed into place
        assert not (final / "_SUCCESS").read_text().startswith("{")  # local _SUCCESS as it always was
    else:
        assert done == work and not final.exists()  # committed in place by its marker
        assert json.loads((work / "_SUCCESS").read_text())["hash"] == "h1"
    assert rundir.is_complete(done, "h1") and rundir.parquet_rows(done / "kept") == 3
    assert rundir.stage_folders(run) == [name]

    # a rerun is killed between writing its data and its commit: readers still see the first attempt
    killed, _ = _attempt(run, name, "h2", 5)
    rundir.write_json_atomic(killed / "stats.json", {"hash": "h2"})
    assert rundir.stage_location(run, name) == done
    assert not rundir.is_complete(rundir.stage_location(run, name), "h2")
    assert rundir.parquet_rows(rundir.stage_location(run, name) / "kept") == 3

    # the next run cleans what the killed one left and commits its own attempt
    rundir.clean_stale_tmp(run)
    assert not killed.exists()
    again, stats = _attempt(run, name, "h2", 5)
    rundir.commit_stage(again, final, stats)
    now = rundir.stage_location(run, name)
    assert rundir.is_complete(now, "h2") and rundir.parquet_rows(now / "kept") == 5
    assert sorted(p.name for p in run.iterdir()) == [now.name]  # the replaced attempt is gone


def test_marker_without_matching_stats_is_not_complete(root):
    run = storage.path(root) / "run"
    run.mkdir(parents=True, exist_ok=True)
    work, stats = _attempt(run, "02-dedup_exact", "h1", 1)
    rundir.commit_stage(work, run / "02-dedup_exact", stats)
    done = rundir.stage_location(run, "02-dedup_exact")
    assert not rundir.is_complete(done, "other-hash")


def test_run_path_and_manifest_on_a_uri(root):
    run = rundir.run_path(root, "web-en")
    assert str(run).endswith("/base/web-en")
    run.mkdir(parents=True, exist_ok=True)
    rundir.write_json_atomic(run / "manifest.json", {"format_version": 1, "stages": []})
    assert rundir.run_path(root, "web-en") == run  # a gristmill run: accepted again
    with pytest.raises(StageError, match="not allowed"):
        rundir.run_path(root, "../victim")
    other = storage.path(root) / "someone-elses"
    other.mkdir(parents=True, exist_ok=True)
    (other / "data.csv").write_text("a,b\n")
    with pytest.raises(StageError, match="not a gristmill run"):
        rundir.run_path(root, "someone-elses")


def test_lock_stops_a_second_run_and_is_released(root, monkeypatch):
    monkeypatch.setattr(lock_mod, "LOCK_SETTLE_S", 0.2)
    run = storage.path(root) / "run"
    run.mkdir(parents=True, exist_ok=True)
    lock = lock_mod.acquire_lock(run, warn=lambda m: None)
    held = rundir.read_json(lock)
    assert held["pid"] > 0 and held["host"]
    if storage.is_uri(run):
        assert held["token"] and held["heartbeat"] > 0
    with pytest.raises(StageError, match="in use by pid"):
        lock_mod.acquire_lock(run, warn=lambda m: None)
    lock_mod.release_lock(lock)
    assert not lock.exists()
    lock_mod.release_lock(lock_mod.acquire_lock(run, warn=lambda m: None))


def _object_run(root, why_not_local: str):
    """The run folder on an object store; local roots skip, saying why their locks work otherwise."""
    run = storage.path(root) / "run"
    if not storage.is_uri(run):
        pytest.skip(why_not_local)
    run.mkdir(parents=True, exist_ok=True)
    return run


def test_object_lock_takes_over_a_stale_holder_and_sees_a_race(root, monkeypatch):
    run = _object_run(root, "local locks are O_EXCL creates (tests/pipeline/test_run_safety.py)")
    monkeypatch.setattr(lock_mod, "LOCK_SETTLE_S", 0.5)
    rundir.write_json_atomic(run / lock_mod.LOCK, {"pid": 1, "host": "elsewhere", "token": "old",
                                                 "heartbeat": time.time() - 3600})
    said = []
    lock = lock_mod.acquire_lock(run, warn=said.append)
    assert "has not renewed it" in said[0] and rundir.read_json(lock)["token"] != "old"
    lock_mod.release_lock(lock)

    # another run writes its lock while we wait to read ours back: we must give way
    def rival():
        time.sleep(0.2)
        rundir.write_json_atomic(run / lock_mod.LOCK, {"pid": 2, "host": "rival", "token": "rival",
                                                     "heartbeat": time.time()})
    t = threading.Thread(target=rival)
    t.start()
    with pytest.raises(StageError, match="at the same moment"):
        lock_mod.acquire_lock(run, warn=lambda m: None)
    t.join()
    assert rundir.read_json(run / lock_mod.LOCK)["token"] == "rival"


def _write_inputs(base):
    docs = [{"id": f"doc-{i}", "text": f"document number {i} " * 5} for i in range(7)]
    (base / "jsonl").mkdir(parents=True, exist_ok=True)
    (base / "jsonl" / "part-0.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs[:4]))
    (base / "jsonl" / "part-1.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs[4:]) + "not json\n")
    table = pa.table({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs]})
    (base / "pq").mkdir(parents=True, exist_ok=True)
    target = base / "pq" / "docs.parquet"
    if isinstance(target, storage.RemotePath):
        pq.write_table(table, target.fs_path, filesystem=target.fs)
    else:
        pq.write_table(table, target)
    sink = pa.BufferOutputStream()  # what datasets' save_to_disk writes: Arrow IPC streams
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    (base / "hf").mkdir(parents=True, exist_ok=True)
    (base / "hf" / "data-00000-of-00001.arrow").write_bytes(sink.getvalue().to_pybytes())
    return docs


@pytest.mark.parametrize("fmt,spec", [("jsonl", "jsonl/*.jsonl"), ("jsonl", "jsonl"), ("parquet", "pq"),
                                      ("hf_disk", "hf"), ("jsonl", "**/part-1.jsonl")])
def test_read_input_files_from_the_store(root, fmt, spec):
    from gristmill.pipeline.config import InputConfig
    from gristmill.pipeline.inputs.readers import list_files, plan_tasks, read_tasks_to_batches
    base = storage.path(root)
    docs = _write_inputs(base)
    cfg = InputConfig(format=fmt, path=f"{root}/{spec}", on_error="reject")
    files = list_files(cfg)
    rels = [rel for _, rel in files]
    if spec.startswith("**"):  # a recursive glob from the root: one file, its folder kept in the relative path
        assert rels == ["jsonl/part-1.jsonl"]
        docs = docs[4:]
    else:
        assert rels == {"jsonl": ["part-0.jsonl", "part-1.jsonl"], "parquet": ["docs.parquet"],
                        "hf_disk": ["data-00000-of-00001.arrow"]}[fmt]
    rows = [r for b in read_tasks_to_batches(cfg, plan_tasks(cfg)) for r in b.to_pylist()]
    kept = [r for r in rows if r["drop_reason"] is None]
    assert [(r["id"], r["text"]) for r in kept] == [(d["id"], d["text"]) for d in docs]
    if fmt == "jsonl":
        bad = [r for r in rows if r["drop_reason"]]
        assert [r["drop_reason"] for r in bad] == ["read:malformed"]
        assert bad[0]["read_error"].startswith(f"{files[-1][0]}:4: malformed JSON")


def test_read_input_in_spark_workers_from_the_store(root, spark):
    """Spark's Python workers open the files themselves (pyarrow), so reading needs no Hadoop connector."""
    from gristmill.pipeline.config import InputConfig
    from gristmill.pipeline.inputs.sources import read_input
    docs = _write_inputs(storage.path(root))
    cfg = InputConfig(format="jsonl", path=f"{root}/jsonl", on_error="reject")
    got = read_input(spark, cfg).select("id", "drop_reason", "src_file").collect()
    assert sorted(r.id for r in got if r.drop_reason is None) == sorted(d["id"] for d in docs)
    where = root if storage.is_uri(root) else root[len("file://"):]  # local files keep plain paths
    assert all(r.src_file.startswith(where + "/jsonl/") for r in got)


def test_plan_with_runs_dir_on_the_store(root, tmp_path):
    """Everything a run does before Spark writes (run folder, input listing, digests) works on a URI."""
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    _write_inputs(storage.path(root))
    raw = {"name": "web", "runs_dir": f"{root}/runs", "input": {"format": "jsonl", "path": f"{root}/jsonl"},
           "stages": [{"length": {"min_chars": 10}}]}
    cfg, stages = parse_config(raw)
    runner = Runner(config=cfg, stages=stages, quiet=True, raw_config=raw)
    plan = runner.plan()
    assert [p["dir"] for p in plan] == ["00-read", "01-length"]
    assert (storage.path(root) / "runs" / "web" / "_file_digests.json").exists()


def test_a_run_with_file_uris(tmp_path, spark):
    """runs_dir and input as file:// URIs: the same run as with plain paths (stage folders renamed into place)."""
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    _write_inputs(tmp_path)
    raw = {"name": "web", "runs_dir": f"file://{tmp_path}/runs",
           "input": {"format": "jsonl", "path": f"file://{tmp_path}/jsonl", "on_error": "reject"},
           "stages": [{"length": {"min_chars": 60}}]}
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, quiet=True, raw_config=raw).run()
    assert run == tmp_path / "runs" / "web"
    manifest = json.loads((run / "manifest.json").read_text())
    assert [(s["dir"], s["status"], s["kept"], s["rejected"]) for s in manifest["stages"]] == [
        ("00-read", "done", 7, 1), ("01-length", "done", 7, 0)]
    assert sorted(p.name for p in run.iterdir() if p.name[:1].isdigit()) == ["00-read", "01-length"]
    again = Runner(config=cfg, stages=stages, quiet=True, raw_config=raw).run()  # resumes: all skipped
    assert [s["status"] for s in json.loads((again / "manifest.json").read_text())["stages"]] == ["skipped"] * 2


def test_a_run_on_s3_says_which_jars_spark_needs(s3_endpoint, spark):
    """Without hadoop-aws on Spark's classpath (as here), the run stops before writing a stage and the
    manifest names the connector to add; reading the input still works (Python workers use pyarrow)."""
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import RunFailed, Runner
    bucket = f"gm-{uuid.uuid4().hex[:12]}"
    raw = {"name": "web", "runs_dir": f"s3://{bucket}/runs",
           "storage": {"s3": {"endpoint_override": s3_endpoint, "scheme": "http", "region": "us-east-1",
                              "access_key": "testing", "secret_key": "testing", "allow_bucket_creation": True}},
           "input": {"format": "jsonl", "path": f"s3://{bucket}/in/jsonl", "on_error": "reject"},
           "stages": [{"length": {"min_chars": 60}}]}
    cfg, stages = parse_config(raw)
    runner = Runner(config=cfg, stages=stages, quiet=True, raw_config=raw)
    storage.path(f"s3://{bucket}").fs.create_dir(bucket)
    _write_inputs(storage.path(f"s3://{bucket}/in"))
    with pytest.raises((RunFailed, StageError), match="hadoop-aws"):
        runner.run()
    run = storage.path(f"s3://{bucket}/runs/web")
    manifest = rundir.read_json(run / "manifest.json")
    error = manifest["stages"][0]["error"]
    assert manifest["stages"][0]["status"] == "failed" and "spark.jars.packages" in error
    assert "ClassNotFoundException" in error and "S3AFileSystem" in error  # the JVM's own words, not py4j's
    assert not (run / lock_mod.LOCK).exists()  # released
    assert rundir.stage_folders(run) == []


def test_stages_that_write_local_files_refuse_a_uri_run_dir(root):
    from gristmill.pipeline.config import ConfigError, parse_config
    from gristmill.pipeline.runner import Runner
    if not storage.is_uri(root):
        pytest.skip("file:// is a local run folder")
    _write_inputs(storage.path(root))
    raw = {"name": "web", "runs_dir": f"{root}/runs", "input": {"format": "jsonl", "path": f"{root}/jsonl"},
           "stages": [{"domain": {"from": "source"}}], "mix": {"weights": "temperature"}}
    cfg, stages = parse_config(raw)
    with pytest.raises(ConfigError, match="stage\\(s\\) mix write their files"):
        Runner(config=cfg, stages=stages, quiet=True, raw_config=raw).run()


def test_warc_and_html_inputs_from_the_store(root):
    """Common Crawl lives in a bucket: WARC records and HTML files are read through the same layer."""
    import io
    pytest.importorskip("warcio")
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from gristmill.pipeline.config import InputConfig
    from gristmill.pipeline.inputs.readers import list_files
    from gristmill.pipeline.inputs.warc import iter_web
    page = ("<html><head><title>t</title></head><body><article><p>Pages in a bucket are read one response "
            "record at a time, the same as pages on a local disk.</p></article></body></html>").encode()
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    for i in range(3):
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(f"http://example.com/{i}", "response", payload=io.BytesIO(page),
                                            http_headers=http))
    base = storage.path(root)
    (base / "cc").mkdir(parents=True, exist_ok=True)
    (base / "cc" / "seg-0.warc.gz").write_bytes(buf.getvalue())
    (base / "html").mkdir(parents=True, exist_ok=True)
    (base / "html" / "a.html").write_bytes(page)
    for fmt, folder, n in (("warc", "cc", 3), ("html", "html", 1)):
        cfg = InputConfig(format=fmt, path=f"{root}/{folder}", on_error="reject")
        (path, rel), = list_files(cfg)
        rows = list(iter_web(cfg, path, rel))
        assert len(rows) == n and all(r.get("drop_reason") is None for r in rows), rows
        assert all("one response record at a time" in r["text"] for r in rows)


@pytest.mark.parametrize("given", ["s3://bkt/runs", "hdfs://nn:8020/user/me/runs"])
def test_submit_passes_a_uri_runs_dir_as_given(given):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "submit", "c.yaml", "--dry-run",
                        "--master", "spark://h:7077", "--runs-dir", given], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    cmd = r.stdout.split()
    assert cmd[cmd.index("--runs-dir") + 1] == given


def test_object_lock_heartbeat_keeps_a_long_run_locked(root, monkeypatch):
    run = _object_run(root, "local locks hold while their pid lives")
    monkeypatch.setattr(lock_mod, "LOCK_SETTLE_S", 0.1)
    monkeypatch.setattr(lock_mod, "LOCK_STALE_S", 1.2)  # renewed every 0.3 s
    lock = lock_mod.acquire_lock(run, warn=lambda m: None)
    first = rundir.read_json(lock)["heartbeat"]
    time.sleep(2.0)  # longer than stale_after: only the heartbeat keeps the lock alive
    assert rundir.read_json(lock)["heartbeat"] > first
    with pytest.raises(StageError, match="in use by pid"):
        lock_mod._acquire_object_lock(run, warn=lambda m: None)
    lock_mod.release_lock(lock)
    assert not lock.exists()
