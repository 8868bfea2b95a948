"""Ids (issue 13, item 1): auto-ids from the input-relative path, sources relative to the input root,
and repeated given ids rejected (or renamed) by the read stage instead of merged downstream."""
import json

import duckdb

from gristmill.pipeline.config import InputConfig, parse_config
from gristmill.pipeline.inputs.readers import iter_task, plan_tasks
from gristmill.pipeline.runner import Runner


def rows(cfg):
    out = []
    for task in plan_tasks(cfg):
        out += list(iter_task(cfg, *task))
    return out


def write(path, objs):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(o) + "\n" for o in objs))


def test_same_named_shards_in_two_folders_get_distinct_ids_and_sources(tmp_path):
    write(tmp_path / "dumpA" / "part-00000.jsonl", [{"text": "alpha text"}])
    write(tmp_path / "dumpB" / "part-00000.jsonl", [{"text": "beta text"}])
    out = rows(InputConfig(path=str(tmp_path)))
    assert len({r["id"] for r in out}) == 2
    assert sorted(r["source"] for r in out) == ["dumpA/part-00000", "dumpB/part-00000"]
    # the two folders given as two inputs: same answer
    out2 = rows(InputConfig(path=[str(tmp_path / "dumpA"), str(tmp_path / "dumpB")]))
    assert sorted(r["id"] for r in out2) == sorted(r["id"] for r in out)
    assert sorted(r["source"] for r in out2) == ["dumpA/part-00000", "dumpB/part-00000"]


def test_source_setting_and_explicit_root(tmp_path):
    write(tmp_path / "web" / "cc" / "part-1.jsonl.gz".replace(".gz", ""), [{"text": "x"}])
    assert rows(InputConfig(path=str(tmp_path), source_from="name"))[0]["source"] == "part-1"
    assert rows(InputConfig(path=str(tmp_path), source_from="folder"))[0]["source"] == "web/cc"
    a = rows(InputConfig(path=str(tmp_path / "web"), root=str(tmp_path)))[0]
    assert a["source"] == "web/cc/part-1"
    assert a["id"] == rows(InputConfig(path=str(tmp_path)))[0]["id"]  # ids follow the root, not the glob


def run(tmp_path, input_cfg, stages, name="ids"):
    raw = {"name": name, "input": input_cfg, "stages": stages}
    cfg, st = parse_config(raw)
    return Runner(config=cfg, stages=st, raw_config=raw, runs_dir=tmp_path / "runs", quiet=True).run()


def q(sql):
    return duckdb.sql(sql).fetchall()


def test_repeated_given_id_is_rejected_not_merged(spark, tmp_path):
    docs = [{"id": f"X{i}", "text": f"unique text number {i}"} for i in range(1, 5)]
    docs += [{"id": "X5", "text": "the text of X5"}, {"id": "X5", "text": "unique text number 1"}]
    write(tmp_path / "in" / "a.jsonl", docs)
    d = run(tmp_path, {"path": str(tmp_path / "in"), "on_error": "reject"}, [{"dedup_exact": {}}])
    m = json.loads((d / "manifest.json").read_text())
    read, dedup = m["stages"]
    assert (read["in"], read["kept"], read["rejected"]) == (6, 5, 1)
    rej = q(f"SELECT id, text, drop_reason, read_error FROM '{d}/00-read/rejected/*.parquet'")
    assert [(r[0], r[1], r[2]) for r in rej] == [("X5", "unique text number 1", "read:duplicate_id")]
    assert "a.jsonl" in rej[0][3] and "first" in rej[0][3]
    # the unique text of X5 survives exact dedup, and dedup's counts balance
    kept = dict(q(f"SELECT id, text FROM '{d}/01-dedup_exact/kept/*.parquet'"))
    assert kept["X5"] == "the text of X5" and len(kept) == 5
    assert dedup["in"] == dedup["kept"] + dedup["rejected"] == 5


def test_repeated_given_id_renamed_on_request(spark, tmp_path):
    write(tmp_path / "in" / "a.jsonl", [{"id": "X", "text": "one"}, {"id": "X", "text": "two"}])
    write(tmp_path / "in" / "b.jsonl", [{"id": "X", "text": "three"}])
    cfg = {"path": str(tmp_path / "in"), "duplicate_ids": "rename"}
    d = run(tmp_path, cfg, [], name="ren")
    ids = q(f"SELECT id, text FROM '{d}/00-read/kept/*.parquet' ORDER BY text")
    assert len({i for i, _ in ids}) == 3 and dict((t, i) for i, t in ids)["one"] == "X"
    again = run(tmp_path, cfg, [], name="ren2")
    assert sorted(q(f"SELECT id FROM '{again}/00-read/kept/*.parquet'")) == sorted((i,) for i, _ in ids)
