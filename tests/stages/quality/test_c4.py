"""C4 as published (TFDS c4_utils.clean_page): lines are removed from the kept text, with reasons."""
from __future__ import annotations

import json

import pytest
from helpers import run_stage

from gristmill.stages.quality.c4 import C4Config, clean
from gristmill.stages.quality.rules import Doc, GopherQualityConfig, gopher_quality
from gristmill.stages.quality.stage import QualityConfig, QualityScorer

PROSE = ["The mill was built in 1820 by the river bank.",
         "Farmers brought their grain to it every autumn.",
         "It ground wheat and rye for the whole valley[3] until 1950."]
PAGE = "\n".join(["Home | About | Contact",
                  PROSE[0],
                  "Please enable JavaScript to view the comments below.",
                  PROSE[1],
                  "This site uses cookies to improve your experience.",
                  "Read more",
                  PROSE[2],
                  ""])


def test_lines_are_removed_with_their_reasons():
    result = clean(Doc(PAGE), C4Config())
    assert result.reason is None
    assert result.text == "\n".join(PROSE).replace("[3]", "")
    removed = json.loads(result.removed_json())
    assert {(r["reason"], r["line"]) for r in removed} == {
        ("no_terminal_punct", "Home | About | Contact"),
        ("javascript", "Please enable JavaScript to view the comments below."),
        ("policy", "This site uses cookies to improve your experience."),
        ("no_terminal_punct", "Read more"),
        ("citation", "[3]")}


def test_tfds_values_by_default_and_datatrove_as_a_preset():
    tfds, dt = C4Config(), C4Config(preset="datatrove")
    assert (tfds.min_sentences, tfds.min_words_per_line, tfds.end_marks) == (3, 5, [".", "?", "!", '"'])
    assert (dt.min_sentences, dt.min_words_per_line) == (5, 3)
    assert C4Config(preset="datatrove", min_sentences=2).min_sentences == 2
    assert C4Config(min_sentences=None).min_sentences is None  # explicit null turns the rule off
    assert clean(Doc("Home\nAbout us"), C4Config(min_sentences=None)).reason == "c4:no_lines_left"
    four_words = "Short lines say little."
    quoted = "He said it was 'the best mill in the county'"
    text = "\n".join(PROSE + [four_words, quoted])
    assert clean(Doc(text), tfds).kept == [p.replace("[3]", "") for p in PROSE]  # 3 sentences: kept
    assert clean(Doc(text), dt).kept[-2:] == [four_words, quoted]
    assert clean(Doc(text), dt).reason is None
    assert clean(Doc("\n".join(PROSE)), dt).reason == "c4:too_few_sentences"  # 3 < 5


def test_page_rules_still_drop_the_page():
    assert clean(Doc(PAGE + "\nLorem ipsum dolor sit amet, consectetur."), C4Config()).reason == "c4:lorem_ipsum"
    assert clean(Doc(PAGE + "\nvar x = function() { return 1; } is here."), C4Config()).reason == "c4:curly_bracket"
    # a curly bracket on a line C4 removes anyway does not drop the page
    assert clean(Doc(PAGE + "\nbody { color: red }"), C4Config()).reason is None


def test_later_rule_sets_see_the_cleaned_text():
    cfg = QualityConfig(rules=["c4", "fineweb"])
    menu = "\n".join(["Home", "About us", "Contact", "Products", "Log in"] * 3)
    # without line removal the menu fails FineWeb's punctuation ratio; C4 removes the menu first
    _, reasons, edits = QualityScorer(cfg).score_and_clean([menu + "\n" + "\n".join(PROSE)])
    assert reasons == [None] and "Home" not in edits[0][0]
    off = QualityConfig(rules=["c4", "fineweb"], c4={"remove_lines": False})
    assert QualityScorer(off).score([menu + "\n" + "\n".join(PROSE)])[1] == ["fineweb:short_line_ratio"]


def test_stage_rewrites_kept_text_and_records_removed_lines(spark, tmp_path):
    rows = [{"id": "page", "text": PAGE}, {"id": "stub", "text": "Only a title"}]
    kept, rejected, _ = run_stage(spark, "quality", {"rules": ["c4"]}, rows, tmp_path)
    assert [r["id"] for r in kept] == ["page"] and [r["id"] for r in rejected] == ["stub"]
    assert "JavaScript" not in kept[0]["text"] and kept[0]["text"].startswith(PROSE[0])
    reasons = [r["reason"] for r in json.loads(kept[0]["c4_removed_lines"])]
    assert sorted(reasons) == ["citation", "javascript", "no_terminal_punct", "no_terminal_punct", "policy"]
    assert rejected[0]["text"] == "Only a title"  # a rejected document keeps its text
    assert rejected[0]["drop_reason"] == "c4:too_few_sentences"


def test_alpha_words_ratio_ignores_punctuation_tokens():
    # Gopher: 80% of *words* contain a letter; commas and dashes are not words
    text = " ".join(["the mill , the river - the grain ; and the farmers ."] * 10)
    signals, reason = gopher_quality(Doc(text), GopherQualityConfig(min_words=10))
    assert signals["gopher_alpha_words_ratio"] == pytest.approx(1.0)
    assert reason != "gopher:alpha_words"


def test_describe_says_the_quality_stage_rewrites_text(tmp_path, capsys):
    from gristmill.pipeline.cli import main
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"name: x\ninput: {{format: jsonl, path: '{tmp_path}/*.jsonl'}}\n"
                   "stages:\n  - quality: {rules: [c4]}\n  - quality: {rules: [c4], c4: {remove_lines: false}}\n")
    assert main(["describe", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.count("rewrites text") == 1 and "c4_removed_lines" in out
