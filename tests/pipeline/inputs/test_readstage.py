"""The read stage's workers write kept/ and rejected/ themselves (inputs/readstage.py): the rows must be the
reader's rows exactly (ids, sources, src_row, reasons), split by drop_reason, one file per task."""
import gzip
import hashlib
import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.pipeline.config import parse_config
from gristmill.pipeline.inputs.readers import plan_tasks, read_tasks_to_batches
from gristmill.pipeline.runner import Runner

COLS = ["id", "text", "source", "url", "src_file", "src_row", "drop_reason", "read_error"]


def corpus(root):
    """Nested folders, same-named shards, a source field (string, object, missing), missing and non-string
    texts, malformed and invalid UTF-8 lines, blank lines, a too-large text, a repeated given id, a .gz."""
    (root / "dumpA" / "sub").mkdir(parents=True)
    (root / "dumpB").mkdir()
    lines = [json.dumps({"id": "x1", "text": "alpha text", "src": "web"}), "", "   ", "{not json",
             json.dumps({"id": "x3", "body": "no text field"}), json.dumps({"id": "x4", "text": 123}),
             json.dumps({"id": "x1", "text": "repeated id"}),
             json.dumps({"id": {"n": 1}, "text": "object id", "src": {"k": "v"}}),
             json.dumps({"text": "no id here"}), json.dumps({"id": "x6", "text": "x" * 5000})]
    (root / "dumpA" / "part-00000.jsonl").write_text("\n".join(lines) + "\n")
    (root / "dumpB" / "part-00000.jsonl").write_text(json.dumps({"text": "no id here"}) + "\n")
    with gzip.open(root / "dumpA" / "sub" / "deep.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps({"id": f"g{i}", "text": f"gz {i}", "src": None}) + "\n" for i in range(5)))
    (root / "dumpB" / "bad.jsonl").write_bytes(b'{"id": "u1", "text": "bad \xff"}\n{"id": "u2", "text": "ok"}\n')


def read_stage(tmp_path, **inp):
    raw = {"name": "r", "input": {"path": str(tmp_path / "in"), **inp}, "spark": {"master": "local[2]"},
           "stages": []}
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=tmp_path / "runs", quiet=True).run()
    return cfg.input, run / "00-read"


def table(folder):
    t = pa.concat_tables([pq.read_table(f) for f in sorted(folder.glob("*.parquet"))])
    return t.select(COLS).sort_by([("src_file", "ascending"), ("src_row", "ascending")]).to_pylist()


def test_workers_write_the_readers_rows_split_by_reason(spark, tmp_path):
    corpus(tmp_path / "in")
    inp = {"source_field": "src", "source_from": "folder", "on_error": "reject", "max_doc_bytes": 4000}
    cfg, stage = read_stage(tmp_path, **inp)
    # the plain-Python reader is the reference; the stage only adds the repeated-id rejection
    want = [r for b in read_tasks_to_batches(cfg, plan_tasks(cfg)) for r in b.to_pylist()]
    want.sort(key=lambda r: (r["src_file"], r["src_row"]))
    repeat = [r for r in want if r["id"] == "x1"][1]
    repeat["drop_reason"] = "read:duplicate_id"
    kept, rejected = table(stage / "kept"), table(stage / "rejected")
    assert kept == [r for r in want if r["drop_reason"] is None]
    got_rej = {(r["src_file"], r["src_row"]): r for r in rejected}
    assert set(got_rej) == {(r["src_file"], r["src_row"]) for r in want if r["drop_reason"]}
    for r in want:
        if r["drop_reason"]:
            g = got_rej[(r["src_file"], r["src_row"])]
            assert {k: g[k] for k in COLS if k != "read_error"} == {k: r[k] for k in COLS if k != "read_error"}
    assert "was seen first at" in got_rej[(repeat["src_file"], repeat["src_row"])]["read_error"]
    # what the rows say, pinned: sources from the folder unless the row names one, auto-ids from the path
    by_text = {r["text"]: r for r in kept}
    assert by_text["alpha text"]["source"] == "web" and by_text["gz 0"]["source"] == "dumpA/sub"
    assert by_text["object id"]["id"] == '{"n": 1}' and by_text["object id"]["source"] == '{"k": "v"}'
    auto = {r["source"]: r for r in kept if r["text"] == "no id here"}
    assert sorted(auto) == ["dumpA", "dumpB"]
    for folder, r in auto.items():
        assert r["id"] == hashlib.sha1(f"{folder}/part-00000.jsonl\x00{r['src_row']}".encode()).hexdigest()[:20]
    assert sorted(r["drop_reason"] for r in rejected) == [
        "read:blank_line", "read:blank_line", "read:duplicate_id", "read:invalid_utf8", "read:malformed",
        "read:missing_text", "read:missing_text", "read:too_large"]
    stats = json.loads((stage / "stats.json").read_text())
    assert (stats["kept"], stats["rejected"], stats["repeated_ids"]) == (len(kept), len(rejected), 1)
    # `in` is what the files hold, counted per file (every line, blank ones too), not kept + rejected
    lines = sum(len(p.read_bytes().splitlines()) for p in (tmp_path / "in").rglob("*.jsonl")) + 5  # + the .gz
    assert stats["in"] == lines and stats["files"] == 4


def test_nothing_rejected_still_leaves_a_readable_rejected_folder(spark, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": "a", "text": "one"}) + "\n")
    _, stage = read_stage(tmp_path)
    # one file per task, under its final name, no temporary file left
    assert [p.name for p in (stage / "kept").iterdir()] == ["part-00000.parquet"]
    assert [p.name for p in (stage / "rejected").iterdir()] == ["part-empty.parquet"]
    assert pq.read_table(stage / "rejected").num_rows == 0
    assert pq.read_table(stage / "rejected").schema.names == COLS
    assert spark.read.parquet(str(stage / "rejected")).columns == COLS


def test_a_failing_task_leaves_no_file_and_names_the_row(spark, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"id": "a", "text": "one"}) + "\n{broken\n")
    with pytest.raises(Exception, match=r"a\.jsonl:2: malformed JSON line"):
        read_stage(tmp_path)
    assert not [p for p in (tmp_path / "runs" / "r").rglob("*") if p.suffix in (".parquet", ".tmp")]


def test_quiet_still_warns_about_a_truncated_archive(spark, tmp_path, capfd):
    (tmp_path / "in").mkdir()
    data = gzip.compress("".join(json.dumps({"id": f"d{i}", "text": f"document {i} " * 20}) + "\n"
                                 for i in range(500)).encode())
    (tmp_path / "in" / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    read_stage(tmp_path, on_error="reject")  # quiet=True
    err = capfd.readouterr().err
    assert "warning" in err and "cut.jsonl.gz" in err and "compressed byte" in err


def test_an_empty_glob_fails_before_a_run_folder_exists(tmp_path):
    from gristmill.pipeline.inputs.readers import ReadError
    (tmp_path / "in").mkdir()
    raw = {"name": "r", "input": {"path": str(tmp_path / "in" / "*.jsonl")}, "stages": []}
    cfg, stages = parse_config(raw)
    with pytest.raises(ReadError, match=r"in/\*\.jsonl' matches no jsonl files"):
        Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=tmp_path / "runs", quiet=True).run()
    assert not (tmp_path / "runs").exists()


def test_small_files_are_packed_into_few_tasks_with_ids_and_order_kept(spark, tmp_path):
    from gristmill.pipeline.inputs.readers import pack_tasks
    (tmp_path / "in").mkdir()
    for i in range(300):
        (tmp_path / "in" / f"doc{i:04d}.txt").write_text(f"small document number {i}\n" * (1 + i % 7))
    cfg, stage = read_stage(tmp_path, format="txt")
    files = list((stage / "kept").glob("*.parquet"))
    assert 1 <= len(files) <= 4  # not one file (and one task) per input file
    want = sorted((r["src_file"], r["id"]) for b in read_tasks_to_batches(cfg, plan_tasks(cfg)) for r in b.to_pylist())
    assert sorted((r["src_file"], r["id"]) for r in table(stage / "kept")) == want
    # a packed task keeps the input files in their listed order
    first = pq.read_table(sorted(files)[0]).column("src_file").to_pylist()
    assert first == sorted(first)
    # large splittable inputs are cut into byte ranges, small ones packed, nothing lost or repeated
    tasks = [("a", "a", 0, -1, 10), ("b", "b", 0, -1, 10), ("c", "c", 0, 50, 50), ("c", "c", 50, 90, 40)]
    groups = pack_tasks(tasks, target=45)
    assert [[t[0] for t in g] for g in groups] == [["a", "b"], ["c"], ["c"]]


def test_a_large_jsonl_is_read_in_byte_ranges_at_line_boundaries(spark, tmp_path, monkeypatch):
    import gristmill.pipeline.inputs.readers as readers
    (tmp_path / "in").mkdir()
    lines = [json.dumps({"text": f"line {i} " + "x" * (i % 50)}) for i in range(2000)]
    (tmp_path / "in" / "big.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(readers, "MIN_TASK_BYTES", 1000)
    cfg, stage = read_stage(tmp_path)
    assert len(plan_tasks(cfg, task_bytes=20_000)) > 3
    kept = table(stage / "kept")
    assert [r["text"] for r in kept] == [json.loads(x)["text"] for x in lines]
    assert len(list((stage / "kept").glob("*.parquet"))) > 1


def test_blank_lines_are_input_and_rejected_with_a_reason(spark, tmp_path):
    (tmp_path / "in").mkdir()
    body = "".join(json.dumps({"id": f"d{i}", "text": f"doc {i}"}) + "\n" + ("\n" if i % 2 else "") for i in range(40))
    (tmp_path / "in" / "a.jsonl").write_text(body)
    _, stage = read_stage(tmp_path)  # on_error: raise; a blank line is not an error
    stats = json.loads((stage / "stats.json").read_text())
    assert (stats["in"], stats["kept"], stats["rejected"]) == (60, 40, 20)
    assert {r["drop_reason"] for r in table(stage / "rejected")} == {"read:blank_line"}


def test_the_readers_rows_are_checked_per_file_against_the_file(tmp_path):
    from gristmill.pipeline.inputs.readers import ReadError
    from gristmill.pipeline.inputs.readstage import _check_files
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "a"}\n\n{"text": "b"}')
    cfg = parse_config({"name": "r", "input": {"path": str(tmp_path / "a.jsonl")}, "stages": []})[0].input
    from gristmill.pipeline.inputs.readers import expected_rows
    path = str(tmp_path / "a.jsonl")
    assert expected_rows(cfg, path, 0, -1) == 3
    assert expected_rows(cfg, path, 0, 5) + expected_rows(cfg, path, 5, 100) == 3
    assert expected_rows(cfg, path, 14, 15) == 1 and expected_rows(cfg, path, 15, 16) == 1
    rows = [r for b in read_tasks_to_batches(cfg, [(path, "a.jsonl", 0, -1)]) for r in b.to_pylist()]
    assert len(rows) == 3  # every line, the blank one rejected
    with pytest.raises(ReadError, match=r"a\.jsonl holds 3 rows .* produced 2"):
        _check_files({path: 3}, Counter({path: 2}))
