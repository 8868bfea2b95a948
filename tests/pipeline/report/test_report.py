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
from helpers import REPO


@pytest.fixture(scope="module")
def run_dir(inspect_run) -> Path:
    return inspect_run


def add_later_outputs(run: Path) -> None:
    """Hand-written outputs in the shapes later stages write (langid/quality/domain/minhash columns, a
    selection, a mixture and a training log), so every report section is drawn; one log line is broken."""
    import duckdb
    src = run / "03-length" / "kept" / "*.parquet"
    d = run / "04-quality"
    for part, cond, reason in (("kept", "hash(id) % 4 <> 0", "NULL"), ("rejected", "hash(id) % 4 = 0", "'quality:low'")):
        (d / part).mkdir(parents=True)
        duckdb.sql(f"""COPY (SELECT * EXCLUDE (drop_reason),
              CASE WHEN hash(id) % 5 = 0 THEN 'de' ELSE 'en' END AS lang, 0.9 AS lang_score,
              CASE WHEN url LIKE '%blog%' THEN 'blog' ELSE 'web' END AS domain,
              (hash(id) % 1000) / 1000.0 AS quality_score,
              CASE WHEN hash(id) % 3 = 0 THEN 'mh-' || (hash(id) % 2) END AS minhash_cluster,
              {reason} AS drop_reason
            FROM read_parquet('{src}') WHERE {cond}) TO '{d / part / "part-0.parquet"}' (FORMAT parquet)""")
    kept = duckdb.sql(f"SELECT count(*) FROM '{d / 'kept' / '*.parquet'}'").fetchall()[0][0]
    rej = duckdb.sql(f"SELECT count(*) FROM '{d / 'rejected' / '*.parquet'}'").fetchall()[0][0]
    (d / "stats.json").write_text(json.dumps({"stage": "quality", "in": kept + rej, "kept": kept, "rejected": rej,
                                              "seconds": 1.0}))
    (d / "_SUCCESS").write_text("done\n")
    m = json.loads((run / "manifest.json").read_text())
    m["stages"].append({"index": 4, "name": "quality", "dir": "04-quality", "status": "done"})
    (run / "manifest.json").write_text(json.dumps(m))
    sel = run / "selection"
    sel.mkdir()
    duckdb.sql(f"COPY (SELECT id, 1.0 AS weight FROM '{d / 'kept' / '*.parquet'}' WHERE hash(id) % 2 = 0) "
               f"TO '{sel / 'part-0.parquet'}' (FORMAT parquet)")
    (sel / "diagnostics.json").write_text(json.dumps({"selector": "facility_location", "budget": 0.5,
                                                      "coverage": {"mean_sim": 0.61, "min_sim": 0.2}}))
    (sel / "broken.json").write_text("{half")
    (run / "mixture.json").write_text(json.dumps({"domains": {"web": {"weight": 0.7, "tokens": 12000},
                                                              "blog": {"weight": 0.3, "tokens": 3000}}}))
    lines = [json.dumps({"step": s, "loss": 4 - s / 50, "loss_per_domain": {"web": 4.1 - s / 50, "blog": 3.9 - s / 60}})
             for s in range(0, 100, 5)]
    (run / "train_log.jsonl").write_text("\n".join(lines[:10] + ["not json"] + lines[10:]) + '\n{"step": 10')


def test_report_on_a_plain_run_has_only_its_sections(run_dir, tmp_path, capsys):
    out = tmp_path / "plain.html"
    assert cli(["report", str(run_dir), "-o", str(out)]) == 0
    html = out.read_text()
    for section in ("Funnel", "Drop reasons", "Duplicate clusters", "Config and versions"):
        assert f"<h2>{section}</h2>" in html
    for absent in ("Languages", "Quality scores", "Selection", "Training", "Unfinished stages"):
        assert f"<h2>{absent}</h2>" not in html
    assert "dup:exact" in html and "length:too_long" in html


def test_report_full_page_in_chromium(run_dir, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run .ci/install-chromium.sh (Debian's chromium package) first")
    from playwright.sync_api import sync_playwright
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    add_later_outputs(run)
    # an unfinished stage after the hand-written one: the report must say so
    m = json.loads((run / "manifest.json").read_text())
    m["stages"].append({"index": 5, "name": "mix", "dir": "05-mix", "status": "pending"})
    (run / "manifest.json").write_text(json.dumps(m))
    out = tmp_path / "report.html"
    assert cli(["report", str(run), "-o", str(out)]) == 0
    html = out.read_text()
    for section in ("Unfinished stages", "Funnel", "Drop reasons", "Languages", "Domains", "Quality scores",
                    "Duplicate clusters", "Selection", "Mixture", "Training"):
        assert f"<h2>{section}</h2>" in html, section
    assert "<script" not in html and 'src="http' not in html and "broken.json: not readable JSON" in html
    assert "loss_per_domain.web" in html and "minhash_cluster" in html and "05-mix" in html

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
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            ctx.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert title == "gristmill run: insp"
    assert svgs >= 8
    assert shot.stat().st_size > 50_000
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, results / "report.png")
