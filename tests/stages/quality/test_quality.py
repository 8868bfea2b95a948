"""quality and url_filter: rules one by one on real web pages and hand-written edge cases, then the stages."""
from __future__ import annotations

import doctest
import gzip
import json

import pytest
from helpers import run_stage
from pydantic import ValidationError

from gristmill.pipeline.cli.train_quality import train
from gristmill.pipeline.config import ConfigError, parse_config
from gristmill.pipeline.stage import StageError
from gristmill.stages.quality import c4 as c4_rules
from gristmill.stages.quality import rules as quality_rules
from gristmill.stages.quality import url_filter
from gristmill.stages.quality.c4 import C4Config, c4
from gristmill.stages.quality.rules import (
    Doc,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    dup_ngram_char_frac_datatrove,
    fineweb,
    gopher_quality,
    gopher_repetition,
    split_words,
)
from gristmill.stages.quality.stage import Quality, QualityConfig, QualityScorer
from gristmill.stages.quality.url_filter import UrlFilter, UrlFilterConfig


def test_doctests():
    for mod in (quality_rules, c4_rules, url_filter):
        assert doctest.testmod(mod).failed == 0


def test_gopher_quality_rules_one_by_one():
    cfg = GopherQualityConfig()
    prose = ("The old mill stood by the river and the farmers brought their grain to it every autumn. " * 6)
    assert gopher_quality(Doc(prose), cfg)[1] is None
    assert gopher_quality(Doc("too short to be a document"), cfg)[1] == "gopher:too_few_words"
    assert gopher_quality(Doc("a an to of by in on at " * 10), cfg)[1] == "gopher:mean_word_length"
    hashes = prose + " #tag" * 20
    assert gopher_quality(Doc(hashes), cfg)[1] == "gopher:hash_ratio"
    bullets = "\n".join(f"- item {i} of the list with the words to have" for i in range(60))
    assert gopher_quality(Doc(bullets), cfg)[1] == "gopher:bullet_lines"
    numbers = prose + " 1234 5678" * 40
    assert gopher_quality(Doc(numbers), cfg)[1] == "gopher:alpha_words"
    no_stop = "Quick brown foxes jump over lazy dogs repeatedly during sunny afternoons. " * 8
    assert gopher_quality(Doc(no_stop), cfg)[1] == "gopher:stop_words"


def test_gopher_repetition_paper_vs_datatrove_definition():
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    text = " ".join(words + ["lambda", "mu"] + words)
    paper, _ = gopher_repetition(Doc(text), GopherRepetitionConfig())
    compat, _ = gopher_repetition(Doc(text), GopherRepetitionConfig(datatrove_compat=True))
    # paper: both copies of the repeated 10 words count, over word characters only
    total = sum(map(len, text.split()))
    assert paper["gopher_dup_5gram_char_frac"] == pytest.approx(2 * sum(map(len, words)) / total)
    # datatrove: only the second copy, over the whole text (spaces included)
    assert compat["gopher_dup_5gram_char_frac"] == pytest.approx(sum(map(len, words)) / len(text))
    lines = "\n".join(["same line here"] * 5 + ["a different one"])
    assert gopher_repetition(Doc(lines), GopherRepetitionConfig())[1] == "gopher:dup_line_frac"


def test_c4_and_fineweb_rules():
    good = "\n".join(f"This is sentence number {i} of a tidy page. It ends well." for i in range(4))
    assert c4(Doc(good), C4Config())[1] is None
    assert c4(Doc(good + "\nLorem ipsum dolor sit amet, consectetur."), C4Config())[1] == "c4:lorem_ipsum"
    assert c4(Doc(good + "\nfunction f() { return 1; }."), C4Config())[1] == "c4:curly_bracket"
    assert c4(Doc("One line. Two.\nNo punctuation here"), C4Config())[1] == "c4:too_few_sentences"
    assert fineweb(Doc(good), FineWebConfig())[1] is None
    menu = "\n".join(["Home", "About us", "Contact", "Products", "Log in"] * 3)
    assert fineweb(Doc(menu), FineWebConfig())[1] == "fineweb:line_punct_ratio"


@pytest.mark.parametrize("text", ["", "   \n\t  ", "x" * 200_000, "😀🎉🔥 " * 50, "0123456789 " * 100,
                                  "def f(x):\n    return {x: x ** 2}\n" * 20, "我爱北京天安门。今天天气很好。" * 30])
def test_edge_cases_never_crash_and_are_dropped(text):
    columns, reasons = QualityScorer(QualityConfig()).score([text])
    assert reasons[0] is not None
    assert all(len(v) == 1 and v[0] == v[0] for v in columns.values())  # one finite value per signal


def test_cjk_words_are_split():
    assert len(split_words("我爱北京天安门")) == 7
    cjk = Doc("我爱北京天安门。" * 20)
    assert gopher_quality(cjk, GopherQualityConfig())[0]["gopher_word_count"] == 140


@pytest.fixture(scope="module")
def committed_web():
    """50 real web pages committed under tests/data/web (CCNet WET text and RedPajama CC/C4; see its README)."""
    from helpers import TEST_DATA
    docs = {}
    for name in ("dolma_ccnet_en_head_30docs.jsonl.gz", "datajuicer_redpajama_cc_c4_20docs.jsonl.gz"):
        with gzip.open(TEST_DATA / "web" / name, "rt") as fh:
            docs.update({f"{name.split('_')[0]}-{i}": d["text"] for i, d in enumerate(map(json.loads, fh))})
    return docs


def test_default_chain_in_spark_on_committed_pages(spark, committed_web, tmp_path):
    """The default Gopher + C4 + FineWeb chain as the runner applies it, on real pages a clone has: every page
    accounted for, the reasons and the cleaned texts of the in-process scorer, every rewrite recorded."""
    ids = list(committed_web)
    kept, rejected, _ = run_stage(spark, "quality", {}, [{"id": i, "text": committed_web[i]} for i in ids], tmp_path)
    assert sorted(r["id"] for r in kept + rejected) == sorted(ids) and kept and rejected
    _, reasons, edits = QualityScorer(QualityConfig()).score_and_clean([committed_web[i] for i in ids])
    assert {r["id"]: r["drop_reason"] for r in kept + rejected} == dict(zip(ids, reasons))
    for r in kept:
        new_text, record = edits[ids.index(r["id"])]
        assert r["text"] == (new_text or committed_web[r["id"]])
        assert (r["text"] != committed_web[r["id"]]) <= (r["c4_removed_lines"] is not None)
        assert r["c4_removed_lines"] == record
    assert any(r["text"] != committed_web[r["id"]] for r in kept)  # C4 did remove lines somewhere
    assert all(r["text"] == committed_web[r["id"]] for r in rejected)


def test_classifier_threshold_and_top_fraction(spark, tmp_path):
    from helpers import TEST_DATA
    with gzip.open(TEST_DATA / "quality" / "dclm_human_quality_labels_120.jsonl.gz", "rt") as fh:
        labelled = [json.loads(line) for line in fh]
    model_path = tmp_path / "q.bin"
    train([("hq" if d["label"] else "lq", d["text"]) for d in labelled[:80]], model_path, epochs=3)
    rows = [{"id": d["id"], "text": d["text"]} for d in labelled[80:120]]
    clf = {"model_path": str(model_path), "top_fraction": 0.25}
    kept, rejected, stats = run_stage(spark, "quality", {"rules": [], "classifier": clf}, rows, tmp_path)
    assert 6 <= len(kept) <= 14 and {r["drop_reason"] for r in rejected} == {"quality:classifier"}
    assert min(r["quality_score"] for r in kept) >= max(r["quality_score"] for r in rejected)
    # a threshold between two scores splits the rows exactly there
    ranked = sorted(r["quality_score"] for r in kept + rejected)
    cut = (ranked[14] + ranked[15]) / 2
    clf = {"model_path": str(model_path), "threshold": cut}
    kept, rejected, _ = run_stage(spark, "quality", {"rules": [], "classifier": clf}, rows, tmp_path)
    assert len(kept) == 25 and len(rejected) == 15
    assert all(r["quality_score"] >= cut for r in kept)
    assert all(r["quality_score"] < cut and r["drop_reason"] == "quality:classifier" for r in rejected)


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValidationError, match="min_words"):
        QualityConfig.model_validate({"gopher_quality": {"min_words": "fifty"}})
    with pytest.raises(ValidationError, match="max_short_line_ratio"):
        QualityConfig.model_validate({"fineweb": {"max_short_line_ratio": "0.5"}})
    with pytest.raises(ValidationError, match="rules"):
        QualityConfig.model_validate({"rules": ["gopher", "dolma"]})
    with pytest.raises(ValidationError, match="threshold"):
        QualityConfig.model_validate({"classifier": {"model_path": "m.bin"}})
    raw = {"name": "x", "input": {"format": "jsonl", "path": str(tmp_path / "*.jsonl")},
           "stages": [{"quality": {"c4": {"min_sentences": "five"}}}]}
    with pytest.raises(ConfigError, match=r"stages\[0\]\.quality\.c4\.min_sentences"):
        parse_config(raw)
    with pytest.raises(StageError, match="does not exist"):
        Quality(QualityConfig(classifier={"model_path": str(tmp_path / "no.bin"), "threshold": 0.5})).preflight()


def test_url_filter(spark, tmp_path):
    domains = tmp_path / "domains.txt"
    domains.write_text("# adult and gambling\nspam.example\n\nbad.org\n")
    words = tmp_path / "words.txt"
    words.write_text("casino\n")
    rows = [{"id": "a", "text": "x", "url": "https://www.spam.example/page"},
            {"id": "b", "text": "x", "url": "http://news.org/best-casino-2020"},
            {"id": "c", "text": "x", "url": "http://notbad.org/casinos"},
            {"id": "d", "text": "x", "url": None}]
    params = {"domain_lists": [str(domains)], "word_lists": [str(words)]}
    kept, rejected, _ = run_stage(spark, "url_filter", params, rows, tmp_path)
    assert sorted(r["id"] for r in kept) == ["c", "d"]
    assert {r["drop_reason"] for r in rejected} == {"url:blocklist"}
    with pytest.raises(StageError, match="missing.txt does not exist"):
        UrlFilter(UrlFilterConfig(domain_lists=[str(tmp_path / "missing.txt")])).preflight()


def test_train_quality_command(tmp_path, capsys):
    from helpers import TEST_DATA

    from gristmill.pipeline.cli import main
    with gzip.open(TEST_DATA / "quality" / "dclm_human_quality_labels_120.jsonl.gz", "rt") as fh:
        labelled = [json.loads(line) for line in fh]
    for name, label in (("pos.jsonl", 1), ("neg.jsonl", 0)):
        (tmp_path / name).write_text("".join(json.dumps({"text": d["text"]}) + "\n"
                                             for d in labelled if d["label"] == label))
    out = tmp_path / "model.bin"
    rc = main(["train-quality", "--positive", str(tmp_path / "pos.jsonl"), "--negative", str(tmp_path / "neg.jsonl"),
               "-o", str(out), "--holdout", "0.2", "--epochs", "10"])
    printed = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "held-out (24 documents" in printed and "precision" in printed and "recall" in printed
    rc = main(["train-quality", "--positive", str(tmp_path / "nope.jsonl"), "--negative", str(tmp_path / "neg.jsonl"),
               "-o", str(out)])
    assert rc == 2 and "nope.jsonl does not exist" in capsys.readouterr().err


def test_datatrove_repetition_scan_jumps_past_a_repeat():
    # "a b c" repeats at 3 and at 6; the scan jumps from 3 to 6, so the n-gram at 6 is never remembered
    # and "b c a" (seen at 1, repeated at 4) is jumped over
    words = "a b c a b c a b c".split()
    assert dup_ngram_char_frac_datatrove(words, 3, 100) == pytest.approx(6 / 100)
    assert dup_ngram_char_frac_datatrove(words, 3, 0) == 0.0
    assert dup_ngram_char_frac_datatrove("a b".split(), 3, 10) == 0.0


def test_gopher_alpha_ratio_datatrove_divides_by_every_token():
    # 60 words with letters, 30 punctuation marks: the paper counts words (1.0), datatrove every token
    text = " ".join(["the river mill ,"] * 15 + ["and the grain"] * 5)
    paper, _ = gopher_quality(Doc(text), GopherQualityConfig())
    compat, reason = gopher_quality(Doc(text), GopherQualityConfig(datatrove_compat=True))
    assert paper["gopher_alpha_words_ratio"] == 1.0
    assert compat["gopher_alpha_words_ratio"] == pytest.approx(60 / 75)
    assert reason is None
    dotted = text + " ." * 10
    assert gopher_quality(Doc(dotted), GopherQualityConfig(datatrove_compat=True))[1] == "gopher:alpha_words"
    assert gopher_quality(Doc(dotted), GopherQualityConfig())[1] is None
