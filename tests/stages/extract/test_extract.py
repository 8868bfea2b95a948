"""The extract stage: each extractor on real-shaped pages, union's order and sources, cascade, rejections,
the per-page time limit, and pathological pages."""
from __future__ import annotations

import time

import pytest
from helpers import run_stage

from gristmill.stages.extract.sandbox import Sandbox
from gristmill.stages.extract.stage import ExtractConfig, extract_page

ARTICLE = [
    "The river mill at Ashford ground wheat and barley for the surrounding villages for nearly three hundred "
    "years, and its records survive in the county archive, where anyone who asks at the desk can read them "
    "on a weekday morning.",
    "Millers kept careful ledgers of every sack that came through the door, noting the farmer, the grain and "
    "the fee, which was usually paid as a share of the flour itself. The ledgers show how much of the harvest "
    "passed through the mill in good years and in bad ones.",
    "When the railway arrived in 1862, cheaper flour from the large steam mills in the cities undercut the "
    "local trade, and the mill closed within a generation. The building was a store for a while and is now "
    "a small museum that opens in the summer.",
]
PAGE = f"""<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8"><title>The Ashford mill</title>
<meta http-equiv="content-language" content="en"></head><body>
<header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/shop">Shop</a>
<a href="/login">Log in</a></nav></header>
<div class="cookie-banner">We use cookies. <a href="/privacy">Privacy policy</a> <button>Accept</button></div>
<main><article><h1>The Ashford mill</h1>{''.join(f'<p>{p}</p>' for p in ARTICLE)}</article></main>
<aside><h3>Related</h3><ul><li><a href="/a">Ten best bakeries</a></li>
<li><a href="/b">Subscribe now</a></li></ul></aside>
<footer>Copyright 2024 Local History Society. All rights reserved. <a href="/terms">Terms</a></footer>
</body></html>"""


@pytest.mark.parametrize("name", ["resiliparse", "trafilatura", "justext"])
def test_each_extractor_keeps_the_article_and_drops_the_footer(name):
    out = extract_page(ExtractConfig(extractor=name), PAGE)
    for p in ARTICLE:
        assert p in out["text"], name
    assert "All rights reserved" not in out["text"] and "Log in" not in out["text"]
    assert out["used"] == name and out["sources"] is None
    assert (out["title"], out["html_lang"], out["meta_lang"]) == ("The Ashford mill", "en-GB", "en")


def test_union_keeps_paragraphs_in_page_order_with_their_extractors():
    # a page where trafilatura and resiliparse disagree: a short caption paragraph between two long ones
    html = PAGE.replace(f"<p>{ARTICLE[1]}</p>", f"<p>{ARTICLE[1]}</p><p>Photo: the mill in 1900.</p>")
    cfg = ExtractConfig(extractor="union", union_of=["resiliparse", "trafilatura", "justext"])
    out = extract_page(cfg, html)
    paras = out["text"].split("\n")
    assert len(paras) == len(out["sources"])
    positions = [paras.index(p) for p in ARTICLE]
    assert positions == sorted(positions)  # document order
    for p in ARTICLE:
        assert set(out["sources"][paras.index(p)].split("+")) == {"resiliparse", "trafilatura", "justext"}
    alone = {extract_page(ExtractConfig(extractor=n), html)["text"] for n in cfg.union_of}
    assert all(len(out["text"]) >= len(t) for t in alone)  # the union never yields less than its members


def test_cascade_calls_trafilatura_only_where_resiliparse_is_unsure():
    sure = extract_page(ExtractConfig(extractor="cascade", cascade_min_chars=100), PAGE)
    assert sure["used"] == "resiliparse"
    unsure = extract_page(ExtractConfig(extractor="cascade", cascade_min_chars=100_000), PAGE)
    assert unsure["used"] == "trafilatura" and ARTICLE[0] in unsure["text"]


def test_stage_rejections_and_columns(spark, tmp_path):
    rows = [
        {"id": "ok", "text": PAGE},
        {"id": "nobody", "text": "<html><head><title>Only a title</title></head></html>"},
        {"id": "tiny", "text": "<html><body><p>Hi there.</p></body></html>"},
        {"id": "null", "text": None},
        {"id": "wet", "text": "Already plain text from a WET record, long enough to keep it.",
         "content_type": "text/plain"},
    ]
    rows = [{"content_type": "text/html", **r} for r in rows]
    kept, rejected, _ = run_stage(spark, "extract", {"min_chars": 40}, rows, tmp_path)
    assert len(kept) + len(rejected) == len(rows)
    by = {r["id"]: r for r in kept + rejected}
    assert by["ok"]["drop_reason"] is None and ARTICLE[0] in by["ok"]["text"]
    assert by["ok"]["title"] == "The Ashford mill" and by["ok"]["extractor_used"] == "trafilatura"  # the default
    assert by["nobody"]["drop_reason"] == "extract:empty"
    assert by["tiny"]["drop_reason"] == "extract:too_short"
    assert by["null"]["drop_reason"] == "extract:empty"
    assert by["wet"]["drop_reason"] is None and by["wet"]["extractor_used"] == "none"


def test_union_column_through_spark(spark, tmp_path):
    kept, _, _ = run_stage(spark, "extract", {"extractor": "union"}, [{"id": "a", "text": PAGE}], tmp_path)
    assert kept[0]["extractor_used"] == "union"
    assert len(kept[0]["extract_sources"]) == len(kept[0]["text"].split("\n"))


def _slow(x):
    if x == "slow":
        time.sleep(30)
    if x == "boom":
        raise ValueError("bad page")
    if x == "die":
        import os
        os._exit(9)
    return x.upper()


def test_sandbox_times_out_crashes_and_carries_on():
    sb = Sandbox(_slow, time_limit=1.0)
    t0 = time.time()
    got = list(sb.map(["a", "slow", "b", "boom", "die", "c"]))
    assert time.time() - t0 < 15
    assert [s for s, _ in got] == ["ok", "timeout", "ok", "error", "crash", "ok"]
    assert [v for s, v in got if s == "ok"] == ["A", "B", "C"]
    assert "bad page" in got[3][1]
    sb.close()


def one_pass(spark, params: dict, rows: list[dict]) -> list[dict]:
    """All rows from one Spark action: a time limit decides per run, so kept and rejected must come from the
    same run (the runner writes both in one pass too)."""
    from helpers import docs_df

    from gristmill.pipeline.stage import get_stage
    cls = get_stage("extract")
    return [r.asDict() for r in cls(cls.Config.model_validate(params)).transform(docs_df(spark, rows)).collect()]


def test_ten_megabytes_of_nested_tags_cannot_stall_the_task(spark, tmp_path):
    deep = "<html><body>" + "<div><span>x" * 700_000 + "</body></html>"  # ~10 MB
    rows = [{"id": "deep", "text": deep}, {"id": "ok", "text": PAGE}]
    t0 = time.time()
    by = {r["id"]: r for r in one_pass(spark, {"extractor": "trafilatura", "time_limit_s": 5}, rows)}
    assert time.time() - t0 < 120
    assert by["ok"]["drop_reason"] is None
    # within the limit trafilatura may finish and keep the x's; past it the page is rejected, never stalled
    assert by["deep"]["drop_reason"] in (None, "extract:timeout", "extract:error", "extract:empty", "extract:too_short")
    if by["deep"]["drop_reason"] in ("extract:timeout", "extract:error"):
        assert by["deep"]["text"] == deep and by["deep"]["extract_error"]  # the page is kept for inspection


def test_real_common_crawl_pages():
    from helpers import TEST_DATA
    pages = sorted((TEST_DATA / "web" / "html").glob("*.html"))  # committed (tests/data/README.md)
    assert len(pages) == 5
    for p in pages:
        html = p.read_text(encoding="utf-8", errors="replace")
        for name in ("resiliparse", "trafilatura"):
            out = extract_page(ExtractConfig(extractor=name), html)
            assert 0 < len(out["text"]) < len(html), (p.name, name)
