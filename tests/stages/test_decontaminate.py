"""decontaminate with a real local Spark: planted GSM8K items (verbatim, lightly edited, answer only, a
hand-written rephrase) are found, clean real pages are untouched, `cut` leaves the rest of the page as it was.
Expected texts are written from the definition (GPT-3, Appendix C: the matched span plus a margin goes, the
pieces either side stay), not from the stage's own code."""
from __future__ import annotations

import gzip
import json

import pytest
from helpers import TEST_DATA, run_stage

from gristmill.stages.decontaminate.index import load_bundled

GSM8K = {r["id"]: r for r in load_bundled("gsm8k")}
JANET = GSM8K["test-0"]
INTRO = ("Our family spent the summer on a small farm outside town. Every morning we walked down to the pond to "
         "feed the animals, and in the evenings we read old books by the fire while the rain fell on the roof. "
         "My grandmother kept a notebook of recipes that nobody else was allowed to touch.")
OUTRO = ("When autumn came we packed the car and drove home through the hills, stopping at every roadside stand "
         "to buy apples and cider. The children slept most of the way, and we promised ourselves that we would "
         "come back the next year, whatever the weather and whatever the price of petrol.")


def web_pages(n: int = 10) -> list[dict]:
    with gzip.open(TEST_DATA / "web" / "dolma_ccnet_en_head_30docs.jsonl.gz", "rt") as f:
        rows = [json.loads(x) for x in f][:n]
    return [{"id": f"web-{i}", "text": r["text"]} for i, r in enumerate(rows)]


def test_verbatim_and_edited_items_are_found_clean_pages_untouched(spark, tmp_path):
    item = f"{JANET['question']}\n{JANET['answer']}"
    edited = (JANET["question"].upper().replace(".", " ;").replace("three", "3")  # case, punctuation, a word
              .replace("muffins", "cakes") + "\n" + JANET["answer"].replace("<<16-3-4=9>>", ""))
    rows = [{"id": "verbatim", "text": f"{INTRO}\n\n{item}\n\n{OUTRO}"},
            {"id": "edited", "text": f"{INTRO}\n\n{edited}\n\n{OUTRO}"},
            {"id": "answer-only", "text": f"{INTRO}\nSolution: {GSM8K['test-2']['answer']}\n{OUTRO}"},
            {"id": "clean", "text": f"{INTRO}\n\n{OUTRO}"}] + web_pages()
    kept, rejected, stats = run_stage(spark, "decontaminate", {}, rows, tmp_path)
    gone = {r["id"]: r for r in rejected}
    assert set(gone) == {"verbatim", "edited", "answer-only"}
    assert {r["drop_reason"] for r in rejected} == {"decon:gsm8k"}
    assert {m["item"] for m in gone["verbatim"]["decon_matches"]} == {"test-0"}
    assert {m["item"] for m in gone["answer-only"]["decon_matches"]} == {"test-2"}
    m = gone["verbatim"]["decon_matches"][0]
    text = gone["verbatim"]["text"]
    assert text[m["start"]:m["end"]] == item[:-len("\n#### 18") + len(item)] or text[m["start"]:m["end"]] == item
    assert all(r["contaminated"] is False and r["decon_matches"] is None for r in kept)
    assert {r["text"] for r in kept} == {r["text"] for r in rows if r["id"] not in gone}
    c = stats["contamination"]["gsm8k"]
    assert (c["items_found"], c["docs_affected"], c["items"]) == (2, 3, 1319)
    assert stats["contamination"]["humaneval"]["docs_affected"] == 0


def test_a_hand_written_rephrase_of_a_test_item_is_caught(spark, tmp_path):
    # what a WRAP "qa" rephrase of a page quoting the problem looks like: reworded, but with a long run kept
    rephrase = ("Question: What does Janet earn each day from her eggs? Answer: Janet has ducks. They lay 16 eggs "
                "per day, and she eats three for breakfast every morning and bakes muffins for her friends every "
                "day with four. The rest she sells at the market for two dollars each, so she earns 18 dollars.")
    rows = [{"id": "synthetic", "text": rephrase, "origin": "synthetic"}, {"id": "real", "text": INTRO,
                                                                          "origin": "real"}]
    kept, rejected, _ = run_stage(spark, "decontaminate", {"action": "mark"}, rows, tmp_path)
    assert not rejected
    marked = {r["id"]: r for r in kept}
    assert marked["synthetic"]["contaminated"] and not marked["real"]["contaminated"]
    assert marked["synthetic"]["decon_matches"][0]["item"] == "test-0"


def test_cut_removes_the_span_and_margin_and_keeps_the_rest(spark, tmp_path):
    item = f"{JANET['question']} {JANET['answer']}"
    page = f"{INTRO}\n\n{item}\n\n{OUTRO}"
    params = {"action": "cut", "cut_margin_chars": 0, "min_piece_chars": 50}
    kept, rejected, stats = run_stage(spark, "decontaminate", params, [{"id": "p", "text": page}], tmp_path)
    assert not rejected
    assert kept[0]["text"] == f"{INTRO}\n\n{OUTRO}"
    removed = "".join(c["text"] for c in kept[0]["decon_cuts"])
    assert removed.strip() == item
    # with a margin, that many characters either side go too (widened to whole words); the two newlines
    # between a paragraph and the item count towards it
    params = {"action": "cut", "cut_margin_chars": 40, "min_piece_chars": 50}
    kept, _, _ = run_stage(spark, "decontaminate", params, [{"id": "p", "text": page}], tmp_path)
    before, after = kept[0]["text"].split("\n\n")
    assert INTRO.startswith(before) and len(INTRO) - 60 < len(before) <= len(INTRO) + 2 - 40
    assert OUTRO.endswith(after) and len(OUTRO) - 60 < len(after) <= len(OUTRO) + 2 - 40


def test_cut_too_often_drops_the_document(spark, tmp_path):
    items = [GSM8K[f"test-{i}"] for i in range(4)]
    page = "\n\n".join(f"{INTRO}\n{r['question']} {r['answer']}" for r in items) + "\n" + OUTRO
    params = {"action": "cut", "max_pieces": 4, "cut_margin_chars": 0}  # 4 items: 5 pieces
    kept, rejected, _ = run_stage(spark, "decontaminate", params, [{"id": "p", "text": page}], tmp_path)
    assert not kept and rejected[0]["drop_reason"] == "decon:too_many_cuts"
    assert rejected[0]["text"] == page


def test_custom_items_and_short_items_need_a_full_match(spark, tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "q1", "question": "Which river flows through the old capital city",
                                "answer": "the Vltava"}) + "\n")
    rows = [{"id": "whole", "text": "Quiz: which river flows through the old capital city? The Vltava, of course."},
            {"id": "part", "text": "Which river flows through the old capital city of Bohemia is a fair question."}]
    kept, rejected, stats = run_stage(spark, "decontaminate", {"benchmarks": [], "custom": {"mine": str(path)}},
                                      rows, tmp_path)
    assert [r["id"] for r in rejected] == ["whole"] and rejected[0]["drop_reason"] == "decon:mine"
    assert stats["contamination"]["mine"]["items_found"] == 1


def test_ngrams_common_in_the_reference_are_ignored(spark, tmp_path):
    # the published max_matches rule: an n-gram found in more than max_ngram_docs documents does not count
    quote = JANET["question"]
    rows = [{"id": f"d{i}", "text": f"{INTRO} {quote} {OUTRO}"} for i in range(3)]
    _, rejected, _ = run_stage(spark, "decontaminate", {"reference": "input", "max_ngram_docs": 3}, rows, tmp_path)
    assert len(rejected) == 3
    kept, rejected, stats = run_stage(spark, "decontaminate", {"reference": "input", "max_ngram_docs": 2}, rows,
                                      tmp_path)
    assert not rejected and len(kept) == 3 and stats["ngrams_ignored_frequent"] > 0


def test_bad_custom_file_names_the_row(tmp_path):
    from gristmill.pipeline.stage import StageError
    from gristmill.stages.decontaminate.stage import Decontaminate, DecontaminateConfig
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "fine", "answer": "ok"}\n{"text": "no question"}\n')
    with pytest.raises(StageError, match=r"bad.jsonl:2"):
        Decontaminate(DecontaminateConfig(custom={"bad": str(path)})).preflight()


def test_example_config_run_inspect_and_report(spark, tmp_path, capsys):
    """configs/decontaminate.yaml on the committed domain sample: its 45 GSM8K test problems (rows copied from
    openai/grade-school-math test.jsonl) are all found, nothing else is; inspect and the report show it."""
    import yaml
    from helpers import REPO

    from gristmill.pipeline.cli import main as cli
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.report.build import build_report
    from gristmill.pipeline.runner import Runner
    raw = yaml.safe_load((REPO / "configs" / "decontaminate.yaml").read_text())
    raw["input"]["path"] = str(REPO / raw["input"]["path"])
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=tmp_path, quiet=True).run()
    with gzip.open(REPO / raw["input"]["path"], "rt") as f:
        math = {r["id"] for r in map(json.loads, f) if "grade-school-math" in r["source"]}
    step = json.loads((run / "manifest.json").read_text())["stages"][2]
    assert step["rejected"] == len(math) == 45
    assert step["stats"]["contamination"]["gsm8k"] == {"items": 1319, "items_indexed": 1319, "items_found": 45,
                                                      "docs_affected": 45}
    capsys.readouterr()
    assert cli(["inspect", str(run), "contamination"]) == 0
    out = capsys.readouterr().out
    assert "gsm8k" in out and "most matched items" in out
    assert cli(["inspect", str(run), "sql", "SELECT id FROM decontaminate_rejected", "--format", "json"]) == 0
    assert {r["id"] for r in json.loads(capsys.readouterr().out)} == math
    html = build_report(run, tmp_path / "report.html").read_text()
    assert "Benchmark contamination" in html and "documents affected per benchmark" in html


def test_items_identical_after_normalization_are_both_reported():
    # HumanEval/56 and /61 differ only in their bracket characters, which normalization drops
    from gristmill.stages.decontaminate.index import build_index, match_batch, merge_spans
    from gristmill.stages.decontaminate.normalization import TokenHasher
    he = {r["id"]: r for r in load_bundled("humaneval")}
    index = build_index({"humaneval": list(he.values())})
    text = he["HumanEval/61"]["question"] + he["HumanEval/61"]["answer"]
    found = {index.items[i][1] for i, _, _ in merge_spans(match_batch(index, [text], TokenHasher())[0])}
    assert {"HumanEval/56", "HumanEval/61"} <= found


def test_reference_file_counts_frequent_ngrams_and_enters_the_hash(spark, tmp_path):
    from gristmill.pipeline.fingerprint import stage_hashes
    from gristmill.stages.decontaminate.stage import Decontaminate, DecontaminateConfig
    quote = JANET["question"]
    ref = tmp_path / "reference.jsonl"
    ref.write_text("".join(json.dumps({"text": f"page {i}: {quote}"}) + "\n" for i in range(3)))
    rows = [{"id": "d", "text": f"{INTRO} {quote} {OUTRO}"}]
    params = {"reference": str(ref), "max_ngram_docs": 2}
    kept, rejected, stats = run_stage(spark, "decontaminate", params, rows, tmp_path)
    assert not rejected and stats["ngrams_ignored_frequent"] > 0
    cfg = DecontaminateConfig.model_validate(params)
    before = stage_hashes("in", [(Decontaminate, cfg)])
    ref.write_text(json.dumps({"text": "something else"}) + "\n")
    assert stage_hashes("in", [(Decontaminate, cfg)]) != before


def test_doctests():
    import doctest

    from gristmill.stages.decontaminate import index, normalization, stage
    for m in (index, normalization, stage):
        assert doctest.testmod(m).failed == 0, m.__name__
