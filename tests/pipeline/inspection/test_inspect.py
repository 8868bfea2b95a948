"""`gristmill inspect` on one small real run (real Spark stages, real DuckDB), plus crashed and bad runs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gristmill.pipeline.cli import main as cli


@pytest.fixture(scope="module")
def run_dir(inspect_run) -> Path:
    return inspect_run


def gm(capsys, *argv) -> tuple[int, str, str]:
    rc = cli(["inspect", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_summary_is_the_default(run_dir, capsys):
    rc, out, _ = gm(capsys, run_dir)
    assert rc == 0
    for d in ("00-read", "01-length", "02-dedup_exact", "03-length"):
        assert d in out
    assert "dup:exact 1" in out and "length:too_long 1" in out and "length:too_short" in out
    assert "~tokens (bytes/4)" in out
    assert out == gm(capsys, run_dir, "summary")[1]
    stats = json.loads((run_dir / "02-dedup_exact" / "stats.json").read_text())
    line = next(ln for ln in out.splitlines() if ln.startswith("02-dedup_exact"))
    assert line.split()[2:5] == [f"{stats['in']:,}", f"{stats['kept']:,}", f"{stats['rejected']:,}"]


def test_reasons_counts_and_examples(run_dir, capsys):
    rc, out, _ = gm(capsys, run_dir, "reasons")
    assert rc == 0
    assert "dup:exact" in out and "e.g. zz-dup" in out
    assert "length:too_long" in out and "e.g. zz-huge" in out
    rc, out, _ = gm(capsys, run_dir, "reasons", "--stage", "01-length")
    assert "zz-short" in out and "dup:exact" not in out


def test_a_stage_used_twice_gets_its_index(run_dir, capsys):
    rc, out, _ = gm(capsys, run_dir, "sql", "SELECT view FROM manifest ORDER BY idx", "--format", "csv")
    assert out.split() == ["view", "read", "length_1", "dedup_exact", "length_3"]
    rc, _, err = gm(capsys, run_dir, "reasons", "--stage", "length")
    assert rc == 2 and "length_1" in err and "length_3" in err


def test_dist_numeric_categorical_and_by(run_dir, capsys):
    rc, out, _ = gm(capsys, run_dir, "dist", "n_words", "--bins", "5")
    assert rc == 0 and "n_words in 03-length kept" in out and "median=" in out
    assert sum(ln.count("[") for ln in out.splitlines()) == 5
    rc, out, _ = gm(capsys, run_dir, "dist", "source", "--rows", "all", "--stage", "length_1")
    assert "dolma_ccnet_en_head_30docs" in out and "extra" in out and "100.0%" not in out
    rc, out, _ = gm(capsys, run_dir, "dist", "chars", "--by", "source", "--rows", "all", "--stage", "length_3")
    # source is the file's path below the input root (the two inputs' common folder), without its extension
    assert any(ln.startswith("source = ") and ln.rstrip().endswith("/extra") for ln in out.splitlines()) and "n=" in out


def test_unknown_column_and_stage_list_valid_ones(run_dir, capsys):
    rc, _, err = gm(capsys, run_dir, "dist", "qualty_score")
    assert rc == 2 and "unknown column 'qualty_score'" in err and "n_words" in err and "Traceback" not in err
    rc, _, err = gm(capsys, run_dir, "sample", "--stage", "langid")
    assert rc == 2 and "unknown stage 'langid'" in err and "dedup_exact" in err


def test_sample_is_seeded_and_truncates_huge_text(run_dir, capsys):
    a = gm(capsys, run_dir, "sample", "-n", "3", "--seed", "7")[1]
    b = gm(capsys, run_dir, "sample", "-n", "3", "--seed", "7")[1]
    c = gm(capsys, run_dir, "sample", "-n", "3", "--seed", "8")[1]
    assert a == b and a != c and a.count("\n── ") == 3
    rc, out, _ = gm(capsys, run_dir, "sample", "--rejected", "--where", "id = 'zz-huge'", "--chars", "300")
    assert rc == 0 and "zz-huge" in out and "more chars]" in out and len(out) < 3000
    assert "drop_reason=length:too_long" in out


def test_show_follows_a_document(run_dir, capsys):
    orig = (run_dir / "orig_id").read_text()
    rc, out, _ = gm(capsys, run_dir, "show", "zz-dup")
    assert rc == 0
    assert "[01-length] kept" in out and "[02-dedup_exact] REJECTED: dup:exact" in out
    assert f"duplicate of {orig}" in out and "03-length" not in out
    rc, out, _ = gm(capsys, run_dir, "show", orig)
    assert "kept through the last finished stage" in out and "[03-length] kept" in out
    rc, _, err = gm(capsys, run_dir, "show", "zz-nope")
    assert rc == 2 and "'zz-nope' is not in run" in err and "zz-dup" in err


def test_dups_by_member_or_kept_id(run_dir, capsys):
    orig = (run_dir / "orig_id").read_text()
    rc, out, _ = gm(capsys, run_dir, "dups", "zz-dup")
    assert rc == 0 and f"kept {orig}" in out and "2 documents" in out
    assert "zz-dup vs kept" in out and "differs only in case or spacing" in out
    assert gm(capsys, run_dir, "dups", orig)[1] == out
    rc, _, err = gm(capsys, run_dir, "dups", "zz-short")
    assert rc == 2 and "duplicate_of" in err


def test_sql_formats_and_failures(run_dir, capsys):
    q = "SELECT stage, drop_reason, count(*) AS n FROM rejected GROUP BY ALL ORDER BY n DESC, drop_reason"
    rc, out, _ = gm(capsys, run_dir, "sql", q, "--format", "json")
    rows = json.loads(out)
    assert rc == 0 and {"stage": "dedup_exact", "drop_reason": "dup:exact", "n": 1} in rows
    rc, out, _ = gm(capsys, run_dir, "sql", "SELECT count(*) AS n FROM final", "--format", "csv")
    kept = json.loads((run_dir / "03-length" / "stats.json").read_text())["kept"]
    assert out.split() == ["n", str(kept)]
    rc, out, _ = gm(capsys, run_dir, "sql", "SELECT id FROM final ORDER BY id LIMIT 2")
    assert rc == 0 and out.splitlines()[0].strip() == "id" and len(out.splitlines()) == 4
    rc, out, err = gm(capsys, run_dir, "sql", "SELECT nope FROM langid_kept")
    assert rc == 2 and "SQL failed" in err and "langid_kept" in err and "dedup_exact_kept" in err
    assert "Traceback" not in err and out == ""
    rc, _, err = gm(capsys, run_dir, "sql", "SELEC 1")
    assert rc == 2 and "syntax error" in err.lower()


def _copy(run_dir: Path, dst: Path) -> Path:
    shutil.copytree(run_dir, dst)
    return dst


def test_crashed_run_uses_finished_stages(run_dir, tmp_path, capsys):
    run = _copy(run_dir, tmp_path / "crashed")
    # what a kill during stage 3 leaves: its temp folder without _SUCCESS, the manifest saying running
    (run / "02-dedup_exact" / "_SUCCESS").unlink()
    (run / "02-dedup_exact").rename(run / ".02-dedup_exact.tmp-dead0001")
    shutil.rmtree(run / "03-length")
    m = json.loads((run / "manifest.json").read_text())
    m["stages"][2]["status"] = "running"
    (run / "manifest.json").write_text(json.dumps(m))
    rc, out, _ = gm(capsys, run)
    assert rc == 0 and "not finished: 02-dedup_exact (running), 03-length (pending)" in out
    assert "01-length kept" in gm(capsys, run, "sample", "-n", "1")[1]
    rc, _, err = gm(capsys, run, "reasons", "--stage", "dedup_exact")
    assert rc == 2 and "02-dedup_exact is running" in err
    rc, out, _ = gm(capsys, run_dir, "diff", run)
    assert rc == 0 and "unfinished" in out
    diff_line = next(ln for ln in out.splitlines() if "dropped by dedup_exact (dup:exact)" in ln)
    assert diff_line.split()[-3:] == ["kept", "1", "zz-dup"]
    assert "dropped by length_3 (length:too_long)" in out


def test_diff_of_a_run_with_itself_is_empty(run_dir, capsys):
    rc, out, _ = gm(capsys, run_dir, "diff", run_dir)
    assert rc == 0 and "no document has a different outcome" in out


def test_bad_runs(run_dir, tmp_path, capsys):
    rc, _, err = gm(capsys, tmp_path)
    assert rc == 2 and "is not a gristmill run (no manifest.json)" in err
    rc, _, err = gm(capsys, tmp_path / "missing")
    assert rc == 2 and "does not exist" in err
    newer = _copy(run_dir, tmp_path / "newer")
    m = json.loads((newer / "manifest.json").read_text())
    m["format_version"] = 99
    (newer / "manifest.json").write_text(json.dumps(m))
    rc, _, err = gm(capsys, newer, "sql", "SELECT 1")
    assert rc == 2 and "newer gristmill (format 99" in err
    (newer / "manifest.json").write_text("{not json")
    rc, _, err = gm(capsys, newer)
    assert rc == 2 and "not valid JSON" in err and "Traceback" not in err
