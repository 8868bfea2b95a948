"""C4 as published (TFDS c4_utils.clean_page): lines are removed from the kept text, with reasons."""
from __future__ import annotations

import json

import pytest
from helpers import run_stage

from gristmill.stages.quality.c4 import C4Config, c4_signals, clean
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
    assert result.text == "\n".join(PROSE).replace("[3]", "") + "\n"  # the kept lines as written
    removed = json.loads(result.removed_json())
    assert {(r["reason"], r.get("cut") or r["line"]) for r in removed} == {
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


# -- issue 25.3: kept lines stay as written, every change is recorded ---------------------------------
P1 = "The mill was built in 1820 by the river bank, and it still stands."
P2 = "Farmers brought their grain to it every autumn, and paid in flour."
P3 = "It ground wheat and rye for the whole valley until the year 1950."
MARKDOWN = (f"# The old mill\n\n{P1}\n{P2}\n\n    for sack in sacks:\n        grind(sack)\n\n{P3}\n")
REMOVED_KINDS = {"too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy", "blank"}


def _removed(result):
    return json.loads(result.removed_json() or "[]")


def test_default_keeps_kept_lines_and_the_blank_lines_between_them_as_written():
    result = clean(Doc(MARKDOWN), C4Config())
    assert result.reason is None
    # heading and code lines go (no end mark); the paragraphs keep their line breaks and blank lines
    assert result.text == f"{P1}\n{P2}\n\n\n{P3}\n"
    lines = [r["line"] for r in _removed(result) if r["reason"] in REMOVED_KINDS]
    assert "# The old mill" in lines and "    for sack in sacks:" in lines and "        grind(sack)" in lines
    assert c4_signals(result)["c4_removed_line_count"] == len(lines)


def test_default_keeps_crlf_and_the_paragraph_break():
    page = f"{P1}\r\n{P2}\r\n\r\n{P3}\r\nRead more\r\n"
    result = clean(Doc(page), C4Config())
    assert result.text == f"{P1}\r\n{P2}\r\n\r\n{P3}\r\n"
    assert [(r["reason"], r["line"]) for r in _removed(result)] == [("no_terminal_punct", "Read more")]


def test_a_document_with_nothing_to_remove_is_byte_identical():
    page = f"\ufeff{P1}  \n\n{P2}\n{P3}\n\n"
    result = clean(Doc(page), C4Config())
    assert result.text == page and result.removed_json() is None


def test_tfds_output_is_the_published_join_of_stripped_lines():
    # TFDS clean_page: every line stripped, citations cut with r"\[\d*\]|\[edit\]|\[citation needed\]",
    # kept lines joined by "\n", the whole stripped; a blank line has no end mark, so it is a removed line
    page = f"  {P1}[1]\r\n\r\n{P2}[edit]\n\n    x = [] if it is so.\n{P3}[]   \n"
    expected = "\n".join([P1, P2, "x =  if it is so.", P3])
    result = clean(Doc(page), C4Config(output="tfds"))
    assert result.text == expected
    rec = _removed(result)
    assert sum(r["reason"] in REMOVED_KINDS for r in rec) == c4_signals(result)["c4_removed_line_count"] == 2
    assert all(r["reason"] == "no_terminal_punct" and r["line"].strip() == "" for r in rec
               if r["reason"] in REMOVED_KINDS)
    assert c4_signals(result)["c4_edited_lines"] == 4  # citation cuts and stripped whitespace


def test_empty_brackets_in_code_are_not_a_citation_by_default():
    line = "The parser starts with result = [] and then fills the list."
    page = "\n".join([P1, P2, line, P3 + "[2]"])
    result = clean(Doc(page), C4Config())
    assert result.text == "\n".join([P1, P2, line, P3])
    assert [(r["reason"], r.get("cut")) for r in _removed(result)] == [("citation", "[2]")]
    assert c4_signals(result)["c4_removed_line_count"] == 0 and c4_signals(result)["c4_edited_lines"] == 1
    # TFDS's regex \[\d*\] matches "[]" too: with output: tfds it is cut, as published
    assert "[]" not in clean(Doc(page), C4Config(output="tfds")).text


def test_stage_records_a_whitespace_only_change(spark, tmp_path):
    page = f"{P1}\n\n{P2}\n{P3}"
    kept, _, _ = run_stage(spark, "quality", {"rules": ["c4"], "c4": {"output": "tfds"}},
                           [{"id": "p", "text": page}], tmp_path)
    assert kept[0]["text"] == f"{P1}\n{P2}\n{P3}"
    assert kept[0]["c4_removed_lines"] is not None and kept[0]["c4_removed_line_count"] == 1
    kept, _, _ = run_stage(spark, "quality", {"rules": ["c4"]}, [{"id": "p", "text": page}], tmp_path)
    assert kept[0]["text"] == page and kept[0]["c4_removed_lines"] is None
