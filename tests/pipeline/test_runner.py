"""The runner end to end on real web text: outputs, manifest, resume, crash recovery, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest
import yaml

from gristmill.pipeline.config import ConfigError, parse_config
from gristmill.pipeline.runner import Runner


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The quickstart corpus (this Python's READMEs, licences, docs, code) frozen into one file for the module."""
    import gzip

    from gristmill.pipeline.inputs.pkgcorpus import dump_python_env
    path = tmp_path_factory.mktemp("corpus") / "python_env.jsonl.gz"
    dump_python_env(path)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    long = [t for t in texts if len(t) >= 400]
    assert len(long) > len(set(long)), "expected repeated licence texts among the installed packages"
    return path, texts


def web_config(corpus, **extra):
    return {"name": "web", "input": {"format": "jsonl", "path": str(corpus[0]), "url_field": "url"},
            "stages": [{"normalize": {}}, {"length": {"min_chars": 200}}, {"dedup_exact": {"scope": "global"}}],
            **extra}


def make_runner(raw, tmp_path, name="web"):
    cfg, stages = parse_config(raw)
    return Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=tmp_path, name=name, quiet=True)


def table(folder):
    return duckdb.sql(f"SELECT id, text FROM read_parquet('{folder}/*.parquet') ORDER BY id").fetchall()


@pytest.fixture(scope="module")
def web_run(spark, corpus, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    raw = web_config(corpus)
    run_dir = make_runner(raw, tmp).run()
    return raw, tmp, run_dir, corpus[1]


def test_outputs_and_counts(web_run):
    raw, tmp, run, texts = web_run
    n, short = len(texts), sum(len(t) < 200 for t in texts)  # normalizing never lengthens a text
    m = json.loads((run / "manifest.json").read_text())
    assert [s["dir"] for s in m["stages"]] == ["00-read", "01-normalize", "02-length", "03-dedup_exact"]
    read, norm, length, dedup = m["stages"]
    assert read["kept"] == n and norm["kept"] == n
    assert length["kept"] + length["rejected"] == n and length["rejected"] >= short > 0
    assert dedup["in"] == length["kept"] and dedup["rejected"] > 0
    assert m["versions"]["pyspark"] and m["config"] == raw
    for s in m["stages"]:
        d = run / s["dir"]
        assert (d / "_SUCCESS").exists() and json.loads((d / "stats.json").read_text())["hash"] == s["hash"]
    # nothing lost: every document is kept or rejected somewhere exactly once
    rej = sum(s["rejected"] for s in m["stages"])
    assert rej + dedup["kept"] == n


def test_exact_duplicates_point_at_kept_representative(web_run):
    _, _, run, _ = web_run
    stage = f"{run}/03-dedup_exact"
    q = f"SELECT id, duplicate_of, drop_reason FROM read_parquet('{stage}/rejected/*.parquet')"
    dups = duckdb.sql(q).fetchall()
    kept_ids = {r[0] for r in duckdb.sql(f"SELECT id FROM read_parquet('{stage}/kept/*.parquet')").fetchall()}
    assert dups and all(r[2] == "dup:exact" and r[1] in kept_ids and r[1] < r[0] for r in dups)


def test_rerun_skips_everything_and_changes_nothing(web_run):
    raw, tmp, run, _ = web_run
    before = {p: p.stat().st_mtime for p in run.rglob("*.parquet")}
    make_runner(raw, tmp).run()
    m = json.loads((run / "manifest.json").read_text())
    assert {s["status"] for s in m["stages"]} == {"skipped"}
    assert {p: p.stat().st_mtime for p in run.rglob("*.parquet")} == before


def test_changed_param_reruns_from_that_stage(web_run):
    raw, tmp, run, _ = web_run
    raw2 = json.loads(json.dumps(raw))
    raw2["stages"][1] = {"length": {"min_chars": 500}}
    make_runner(raw2, tmp, name="web").run()
    m = json.loads((run / "manifest.json").read_text())
    assert [s["status"] for s in m["stages"]] == ["skipped", "skipped", "done", "done"]
    make_runner(raw, tmp).run(from_stage="dedup_exact")  # restore, and rerun the last stage on request
    m = json.loads((run / "manifest.json").read_text())
    assert [s["status"] for s in m["stages"]] == ["skipped", "skipped", "done", "done"]


def test_per_source_scope_keeps_cross_source_copies(spark, tmp_path):
    from helpers import run_stage
    docs = [{"id": "a", "text": "Same words here.", "source": "s1"},
            {"id": "b", "text": "same  words here.", "source": "s2"},
            {"id": "c", "text": "Same words here.", "source": "s1"}]
    kept, rej, _ = run_stage(spark, "dedup_exact", {"scope": "per_source"}, docs, tmp_path)
    assert sorted(r["id"] for r in kept) == ["a", "b"] and [(r["id"], r["duplicate_of"]) for r in rej] == [("c", "a")]
    kept, rej, _ = run_stage(spark, "dedup_exact", {"scope": "global"}, docs, tmp_path)
    assert [r["id"] for r in kept] == ["a"]


def test_large_identical_cluster(spark, tmp_path):
    from helpers import run_stage
    docs = [{"id": f"d{i:05d}", "text": "the same boilerplate page"} for i in range(10000)]
    kept, rej, _ = run_stage(spark, "dedup_exact", {}, docs, tmp_path)
    assert [r["id"] for r in kept] == ["d00000"] and len(rej) == 9999


def test_normalize_and_length_rules(spark, tmp_path):
    from helpers import run_stage
    docs = [{"id": "1", "text": "Cafe\u0301\u00a0 bar\x07\r\n\n\n\nend"}, {"id": "2", "text": "   "},
            {"id": "3", "text": "one two three four five six"}]
    kept, _, _ = run_stage(spark, "normalize", {"keep_original": True}, docs, tmp_path)
    by = {r["id"]: r for r in kept}
    # safe defaults (issue 13): spaces inside a line are kept, up to two blank lines stay
    assert by["1"]["text"] == "Café\u00a0 bar\n\n\nend" and by["1"]["text_original"].startswith("Cafe\u0301")
    kept, rej, _ = run_stage(spark, "length", {"min_chars": 1, "min_words": 3, "max_words": 5}, docs, tmp_path)
    assert {r["id"]: r["drop_reason"] for r in rej} == {"2": "length:too_few_words", "3": "length:too_many_words"}
    assert [r["n_words"] for r in kept] == [3]


def test_unknown_from_stage_is_clear(web_run):
    raw, tmp, _, _ = web_run
    with pytest.raises(ConfigError, match="not in this pipeline"):
        make_runner(raw, tmp).run(from_stage="langid")


def test_killed_run_resumes_to_identical_output(corpus, tmp_path):
    """Kill the CLI mid-stage, rerun: no half stage is trusted, and the result equals a clean run."""
    raw = web_config(corpus, runs_dir=str(tmp_path / "runs"))
    cfg_path = tmp_path / "web.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "gristmill.pipeline.cli", "run", str(cfg_path), "--quiet"]
    run = tmp_path / "runs" / "web"
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(run.glob(".02-length.tmp-*")) and not (run / "02-length").exists():
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "03-dedup_exact" / "_SUCCESS").exists()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not list(run.glob(".*.tmp-*"))
    clean = tmp_path / "clean"
    raw["runs_dir"] = str(clean)
    cfg_path.write_text(yaml.safe_dump(raw))
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    for stage in ("00-read", "02-length", "03-dedup_exact"):
        for part in ("kept", "rejected"):
            assert table(run / stage / part) == table(clean / "web" / stage / part)


def test_cli_reports_bad_input_without_traceback(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"path": str(tmp_path / "missing.jsonl")}, "runs_dir": str(tmp_path)}))
    r = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "run", str(cfg)], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "matches no jsonl files" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{oops\n')
    cfg.write_text(yaml.safe_dump({"input": {"path": str(tmp_path / "bad.jsonl")}, "runs_dir": str(tmp_path)}))
    r = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "run", str(cfg)], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "bad.jsonl:2: malformed JSON" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run" / "00-read").exists()
