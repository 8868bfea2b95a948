"""`gristmill report`: the HTML page is built from a real run and loads in real headless Chromium."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gristmill.pipeline.cli import main as cli

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def run_dir(inspect_run) -> Path:
    return inspect_run


def test_report_on_a_plain_run_has_only_its_sections(run_dir, tmp_path, capsys):
    out = tmp_path / "plain.html"
    assert cli(["report", str(run_dir), "-o", str(out)]) == 0
    html = out.read_text()
    for section in ("Funnel", "Drop reasons", "Duplicate clusters", "Config and versions"):
        assert f"<h2>{section}</h2>" in html
    for absent in ("Languages", "Quality scores", "Selection", "Training", "Unfinished stages"):
        assert f"<h2>{absent}</h2>" not in html
    assert "dup:exact" in html and "length:too_long" in html


def test_report_full_page_in_chromium(full_run, tmp_path):
    """A real run through select, mix and train: every section is drawn from what gristmill wrote."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run .ci/install-chromium.sh (Debian's chromium package) first")
    from playwright.sync_api import sync_playwright
    run = Path(shutil.copytree(full_run, tmp_path / "run"))
    sel = next(run.glob("*-select/selection"))
    (sel / "broken.json").write_text("{half")  # a file some later tool left half-written
    # a stage that never ran after the last finished one: the report must say so
    m = json.loads((run / "manifest.json").read_text())
    m["stages"].append({"index": len(m["stages"]), "name": "rephrase", "dir": "99-rephrase", "status": "pending"})
    (run / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "report.html"
    assert cli(["report", str(run), "-o", str(out)]) == 0
    html = out.read_text()
    for section in ("Unfinished stages", "Funnel", "Drop reasons", "Languages", "Domains", "Quality scores",
                    "Duplicate clusters", "Selection", "Mixture", "Training"):
        assert f"<h2>{section}</h2>" in html, section
    assert "<script" not in html and 'src="http' not in html and "broken.json: not readable JSON" in html
    assert "select:facility_location" in html and "dup:exact" in html and "99-rephrase" in html
    assert "chosen documents by weight" in html and "diagnostics.json" in html
    assert "heldout.math" in html and "train.code" in html  # per-domain loss curves from log.jsonl

    errors, requests = [], []
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(tempfile.mkdtemp(dir=tmp_path), executable_path=CHROMIUM,
                                                   args=FLAGS, headless=True, viewport={"width": 1300, "height": 900})
        try:
            page = ctx.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(out.as_uri(), wait_until="load")
            svgs = page.locator("section svg").count()
            title = page.title()
            shot = tmp_path / "report.png"  # in tmp: a test run must not rewrite files in the repository
            page.screenshot(path=str(shot), full_page=True)
        finally:
            ctx.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert title == "gristmill run: full"
    assert svgs >= 8
    assert shot.stat().st_size > 50_000


def test_inspect_show_gives_the_real_selection_weight(full_run, capsys):
    import pyarrow.parquet as pq
    chosen = pq.read_table(next(full_run.glob("*-select/selection")) / "selection.parquet").to_pylist()[0]
    assert cli(["inspect", str(full_run), "show", chosen["id"]]) == 0
    out = capsys.readouterr().out
    assert f"selection: chosen (weight {chosen['select_weight']}, rank {chosen['select_rank']})" in out
