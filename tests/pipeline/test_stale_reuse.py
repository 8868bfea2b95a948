"""Nothing reused after its code, settings or input bytes changed (issue 25, item 4), and accounting by identity
(item 6): the battery's failures, each a test written before the fix.

- one byte of the input edited, size kept and mtime restored with `touch -r`: every stage was skipped;
- a blocklist edited the same way: `url_filter` was skipped;
- a stage's code edited (`< c.min_chars` -> `< c.min_chars + 2000`): "up to date, skipped";
- a stage that renames or swaps ids keeps the counts balanced and was committed."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from gristmill.pipeline.config import parse_config
from gristmill.pipeline.fingerprint import stage_hashes
from gristmill.pipeline.runner import Runner
from gristmill.pipeline.stage import FitStage, StageError

TEXTS = ["The bakery on the corner opens at seven and sells rye bread until noon on weekdays.",
         "Volunteers cleared the river trail after the storm brought down a dozen old oaks.",
         "A short note.", "Students showed robotics projects to their parents on Thursday evening."]

PLUGIN = '''
from pyspark.sql import functions as F

from gristmill.pipeline.stage import FitStage

LIMIT = {limit}


class TestLimit(FitStage):
    """A plugin stage whose source this test edits."""
    name = "test_code_limit"

    def fit(self, df):
        pass

    def tag(self, df):
        return df.withColumn("drop_reason", F.when(F.length("text") < LIMIT, "short"))
'''


def touch_edit(path, old: bytes, new: bytes) -> None:
    """Replace bytes in place at the same size, then put the old mtime back as `touch -r` does."""
    assert len(old) == len(new)
    ref = path.with_name(path.name + ".ref")
    subprocess.run(["touch", "-r", str(path), str(ref)], check=True)
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    subprocess.run(["touch", "-r", str(ref), str(path)], check=True)
    assert path.stat().st_mtime_ns == ref.stat().st_mtime_ns and path.stat().st_size == len(data)


def make_runner(tmp_path, stages):
    inp = tmp_path / "in" / "a.jsonl"
    if not inp.exists():
        inp.parent.mkdir(parents=True)
        inp.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    raw = {"name": "r", "input": {"path": str(inp)}, "stages": stages}
    cfg, st = parse_config(raw)
    return Runner(config=cfg, stages=st, raw_config=raw, runs_dir=tmp_path / "runs", quiet=True)


def statuses(run_dir) -> list[str]:
    return [s["status"] for s in json.loads((run_dir / "manifest.json").read_text())["stages"]]


def test_blocklist_edited_at_same_size_and_mtime_changes_the_hash(tmp_path):
    block = tmp_path / "blocked.txt"
    block.write_text("site0.example\n")
    cache: dict = {}
    _, st = parse_config({"input": {"path": "x"}, "stages": [{"url_filter": {"domain_lists": [str(block)]}}]})
    before = stage_hashes("in", st, cache)
    assert stage_hashes("in", st, cache) == before  # nothing changed: the same hash, from the cache
    touch_edit(block, b"site0", b"site9")
    assert stage_hashes("in", st, cache) != before


def test_input_and_code_edits_rerun_what_they_touch(spark, tmp_path, monkeypatch):
    plugin = tmp_path / "plug" / "core_plugin_limit.py"
    plugin.parent.mkdir()
    plugin.write_text(PLUGIN.format(limit=20))
    monkeypatch.syspath_prepend(str(plugin.parent))
    importlib.import_module("core_plugin_limit")
    stages = [{"length": {"min_chars": 10}}, {"test_code_limit": {}}]
    run_dir = make_runner(tmp_path, stages).run()
    assert statuses(run_dir) == ["done", "done", "done"]
    assert statuses(make_runner(tmp_path, stages).run()) == ["skipped", "skipped", "skipped"]

    # one input byte, same size, mtime restored: the read stage and everything after it rerun
    touch_edit(tmp_path / "in" / "a.jsonl", b"rye bread", b"oat bread")
    run_dir = make_runner(tmp_path, stages).run()
    assert statuses(run_dir) == ["done", "done", "done"]
    import duckdb
    texts = [r[0] for r in duckdb.sql(f"SELECT text FROM read_parquet('{run_dir}/00-read/kept/*.parquet')").fetchall()]
    assert any("oat bread" in t for t in texts)

    # the plugin's code changes (its limit): that stage reruns, the ones before it do not
    plugin.write_text(PLUGIN.format(limit=2000))
    importlib.reload(sys.modules["core_plugin_limit"])
    run_dir = make_runner(tmp_path, stages).run()
    assert statuses(run_dir) == ["skipped", "skipped", "done"]
    assert json.loads((run_dir / "manifest.json").read_text())["stages"][2]["kept"] == 0


class RenamesAnId(FitStage):
    """Balanced by count, wrong by identity: d1 leaves as d1-renamed."""
    name = "test_renames_an_id"

    def fit(self, df):
        pass

    def tag(self, df):
        from pyspark.sql import functions as F
        return df.withColumn("id", F.when(F.col("id") == "d1", "d1-renamed").otherwise(F.col("id")))


class SwapsARow(FitStage):
    """Balanced by count: d2 is lost and d0 comes out twice."""
    name = "test_swaps_a_row"

    def fit(self, df):
        pass

    def tag(self, df):
        return df.where("id != 'd2'").unionByName(df.where("id = 'd0'"))


@pytest.mark.parametrize("stage, said", [("test_renames_an_id", "'d1' entered 1 time(s), left 0"),
                                         ("test_swaps_a_row", "'d0' entered 1 time(s), left 2")])
def test_accounting_by_identity_stops_a_stage_that_balances_by_count(spark, tmp_path, stage, said):
    with pytest.raises(StageError, match="does not account for its documents by id") as e:
        make_runner(tmp_path, [{stage: {}}]).run()
    assert said in str(e.value) or "'d2' entered 1 time(s), left 0" in str(e.value)
    run = tmp_path / "runs" / "r"
    assert not (run / f"01-{stage}").exists()
    assert json.loads((run / "manifest.json").read_text())["stages"][1]["status"] == "failed"
