"""Quality rules on hand-checked real CommonCrawl pages (moved from tests/stages/quality: the pages' licences
include NC/ND, so they stay in ../shared/data and these checks run by hand)."""
from __future__ import annotations

import gzip
import json

import pytest
from helpers import run_stage

from gristmill.stages.quality.rules import split_words
from gristmill.stages.quality.stage import QualityConfig, QualityScorer

# Real CommonCrawl pages and the rule each fails first (checked by hand: see the comments).
REAL = {
    "blj5uzvcoa4iybpd5o6kom5nir6ngmoj": None,  # a normal prose page
    "s5chsljgmpchrhvarcsptyzpsicubohh": "gopher:mean_word_length",  # a list of long URL-like tokens
    "oekn6zzky53fzs7szdftcvuoyejve4ig": "gopher:dup_para_frac",  # the same paragraphs over and over
    "dycgosuoofnybv652qvoaeqvtfo5pury": "c4:curly_bracket",  # page with inline script/CSS braces
    "oxtbm4ysv2unnok7emebjytiyjksf7u4": None,  # repeated boilerplate lines: C4 removes them before FineWeb
    "nnqs2l4gcc63go5576cwdpntzrrwzpa4": "gopher:too_few_words",  # a 202-character stub
}


@pytest.fixture(scope="module")
def web(shared_data):
    with gzip.open(shared_data / "web" / "dolma_ccmain201930_cclicensed_697docs.jsonl.gz", "rt") as fh:
        return {d["id"]: d["text"] for d in map(json.loads, fh)}


def test_real_pages_fail_the_expected_rule(web):
    _, reasons = QualityScorer(QualityConfig()).score([web[i] for i in REAL])
    assert dict(zip(REAL, reasons)) == REAL
    # without C4's line removal FineWeb sees the boilerplate
    no_removal = QualityScorer(QualityConfig(c4={"remove_lines": False}))
    _, reasons = no_removal.score([web["oxtbm4ysv2unnok7emebjytiyjksf7u4"]])
    assert reasons == ["fineweb:char_dup_ratio"]


def test_datatrove_agrees_on_the_real_pages(web):
    pytest.importorskip("datatrove")
    # The peer implementation with the same published thresholds makes the same keep/drop calls.
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    # datatrove's C4 filter also rewrites the text, so its filters run in our order on one Document
    filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    cfg = QualityConfig(c4={"preset": "datatrove"})
    _, ours = QualityScorer(cfg).score([web[i] for i in REAL])
    for doc_id, reason in zip(REAL, ours):
        doc = Document(text=web[doc_id], id=doc_id)
        kept = all(f.filter(doc) is True for f in filters)
        assert kept == (reason is None), doc_id


def test_stage_tags_rows_and_keeps_signals(spark, web, tmp_path):
    rows = [{"id": i, "text": web[i]} for i in REAL] + [{"id": "empty", "text": ""}]
    kept, rejected, stats = run_stage(spark, "quality", {"rules": ["gopher", "c4", "fineweb"]}, rows, tmp_path)
    got = {r["id"]: r["drop_reason"] for r in kept + rejected}
    assert got == {**REAL, "empty": "quality:empty"}
    assert {"gopher_mean_word_length", "c4_sentences", "fineweb_line_punct_ratio"} <= set(kept[0])
    assert stats["rules"] == ["gopher_repetition", "gopher_quality", "c4", "fineweb"]


def test_datatrove_repetition_scan_matches_datatrove_on_real_pages(web):
    pytest.importorskip("datatrove")
    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate

    from gristmill.stages.quality.rules import dup_ngram_char_frac_datatrove
    checked = 0
    for text in [t for t in web.values() if t][:300]:
        words = split_words(text)
        for n in range(5, 11):
            ours = dup_ngram_char_frac_datatrove(words, n, len(text))
            assert ours == pytest.approx(find_all_duplicate(words, n) / len(text)), (text[:60], n)
            checked += ours > 0
    assert checked > 50  # the pages do repeat n-grams, so the jumps were exercised
