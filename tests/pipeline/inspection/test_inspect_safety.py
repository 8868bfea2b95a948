"""Inspection on damaged runs and untrusted SQL (issue 13, item 7), and the accounting command.

The run folder is laid out as the runner lays it out (manifest, stage folders with kept/ and rejected/
Parquet, stats.json, _SUCCESS), written with pyarrow so these tests need no Spark."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.pipeline.cli import main as cli
from gristmill.pipeline.rundir import FORMAT_VERSION


def gm(capsys, *argv):
    rc = cli(["inspect", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _stage(run: Path, idx: int, name: str, kept: list[dict], rejected: list[dict], n_in: int | None = None):
    d = run / f"{idx:02d}-{name}"
    for part, rows in (("kept", kept), ("rejected", rejected)):
        (d / part).mkdir(parents=True)
        schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("src_file", pa.string()),
                            ("drop_reason", pa.string())])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), d / part / "part-00000.parquet")
    stats = {"stage": name, "hash": f"h{idx}", "in": n_in if n_in is not None else len(kept) + len(rejected),
             "kept": len(kept), "rejected": len(rejected), "seconds": 0.1}
    (d / "stats.json").write_text(json.dumps(stats))
    (d / "_SUCCESS").write_text("")
    return {"index": idx, "name": name, "dir": d.name, "hash": f"h{idx}", "status": "done"}


def doc(i, f="a.jsonl", reason=None):
    return {"id": f"d{i}", "text": f"text {i}", "src_file": f, "drop_reason": reason}


@pytest.fixture
def run(tmp_path) -> Path:
    r = tmp_path / "run"
    r.mkdir()
    read_kept = [doc(i, "a.jsonl" if i < 6 else "b.jsonl.gz") for i in range(9)]
    entries = [_stage(r, 0, "read", read_kept, [doc(9, "b.jsonl.gz", "read:truncated")]),
               _stage(r, 1, "length", read_kept[:7], [{**d, "drop_reason": "length:too_short"} for d in read_kept[7:]]),
               _stage(r, 2, "dedup_exact", read_kept[:5], [{**d, "drop_reason": "dup:exact"} for d in read_kept[5:7]])]
    (r / "manifest.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "name": "t", "stages": entries}))
    return r


def test_accounting_balances_and_lists_input_files(run, capsys):
    rc, out, _ = gm(capsys, run, "accounting")
    assert rc == 0
    assert "00-read" in out and "02-dedup_exact" in out and "OFF BY" not in out
    assert "documents read 10 = kept at the end 5 + rejected somewhere 5" in out
    line_a = next(x for x in out.splitlines() if x.startswith("a.jsonl"))
    line_b = next(x for x in out.splitlines() if x.startswith("b.jsonl.gz"))
    assert line_a.split()[1:] == ["6", "5", "0", "1"] and line_b.split()[1:] == ["4", "0", "1", "3"]


def test_accounting_flags_a_stage_that_lost_rows(run, capsys):
    (run / "02-dedup_exact" / "rejected" / "part-00000.parquet").unlink()
    rc, out, _ = gm(capsys, run, "accounting")
    assert rc == 1 and "OFF BY -2" in out and "DOES NOT ADD UP" in out


def test_truncated_parquet_file_is_named_and_skipped(run, capsys):
    bad = run / "01-length" / "rejected" / "part-00000.parquet"
    bad.write_bytes(bad.read_bytes()[:40])
    rc, out, err = gm(capsys, run, "summary")
    assert rc == 0 and str(bad) in err and "skipping" in err and "Traceback" not in err
    assert "02-dedup_exact" in out
    rc, out, err = gm(capsys, run, "sql", "SELECT count(*) AS n FROM final", "--format", "csv")
    assert rc == 0 and out.split() == ["n", "5"] and str(bad) in err


@pytest.mark.parametrize("query, word", [
    ("SELECT * FROM read_text('/etc/passwd')", "reads only the files of this run"),
    ("SELECT * FROM read_csv('/etc/hostname')", "reads only the files of this run"),
    ("COPY (SELECT * FROM final) TO '{run}/../stolen.csv'", "COPY"),
    ("COPY (SELECT * FROM final) TO '{run}/00-read/kept/evil.parquet'", "COPY"),
    ("ATTACH '{run}/../other.db' AS other", "ATTACH"),
    ("INSTALL httpfs", "INSTALL"),
    ("SET enable_external_access = true", "SET"),
    ("CREATE TABLE x AS SELECT 1", "CREATE"),
])
def test_sql_is_read_only_inside_the_run(run, capsys, query, word):
    rc, out, err = gm(capsys, run, "sql", query.format(run=run))
    assert rc == 2 and word in err and "Traceback" not in err
    assert not (run.parent / "stolen.csv").exists() and not (run / "00-read/kept/evil.parquet").exists()
    assert not (run.parent / "other.db").exists()
    rc, out, _ = gm(capsys, run, "sql", "SELECT count(*) AS n FROM rejected", "--format", "csv")
    assert rc == 0 and out.split() == ["n", "5"]


def test_stale_stage_is_not_read(run, capsys):
    m = json.loads((run / "manifest.json").read_text())
    m["stages"][2]["status"] = "stale"
    (run / "manifest.json").write_text(json.dumps(m))
    rc, out, _ = gm(capsys, run, "sql", "SELECT count(*) AS n FROM final", "--format", "csv")
    assert out.split() == ["n", "7"]


@pytest.mark.parametrize("cut", ["all", "one"])
def test_damaged_last_stage_is_never_replaced_by_an_earlier_one(run, capsys, cut):
    """Issue 25's battery: with the last stage's kept Parquet truncated, `final` returned the previous stage's
    rows (including rows the last stage rejected). A damaged stage must fail or say so, never fall back."""
    kept = run / "02-dedup_exact" / "kept"
    if cut == "one":  # one of two files: a view over the other would be silently partial
        pq.write_table(pq.read_table(kept / "part-00000.parquet").slice(0, 2), kept / "part-00001.parquet")
    bad = kept / "part-00000.parquet"
    bad.write_bytes(bad.read_bytes()[:40])
    rc, out, err = gm(capsys, run, "sql", "SELECT id FROM final", "--format", "csv")
    assert rc == 2 and out.strip() == "" and "02-dedup_exact is damaged" in err and str(bad) in err
    rc, out, err = gm(capsys, run, "sample", "-n", "3")
    assert rc == 2 and "02-dedup_exact is damaged" in err and "d5" not in out
    rc, out, _ = gm(capsys, run, "summary")
    assert rc == 0 and "damaged" in out
    # the stage's own views are gone too; the healthy earlier stages still read
    rc, out, _ = gm(capsys, run, "sql", "SELECT count(*) AS n FROM length_kept", "--format", "csv")
    assert rc == 0 and out.split() == ["n", "7"]
