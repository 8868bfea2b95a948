"""langid: real lid.176 model, real documents, through the stage as the runner applies it."""
from __future__ import annotations

import doctest
import gzip
import json

import pytest
from helpers import TEST_DATA, run_stage
from pydantic import ValidationError

from gristmill.pipeline.stage import StageError
from gristmill.stages import fasttext_model as lid_model
from gristmill.stages.langid import codes as lid_codes
from gristmill.stages.langid import stage as langid
from gristmill.stages.langid.stage import LangId, LangIdConfig, LangIdentifier


def _udhr(codes: set[str], per_code: int = 3, min_chars: int = 200) -> list[dict]:
    out, seen = [], {}
    with gzip.open(TEST_DATA / "lid" / "udhr_9langs_paragraphs.jsonl.gz", "rt") as fh:
        for line in fh:
            d = json.loads(line)
            # main declarations only: no script/variant subtag, no qualified name ("French (Welche)")
            if (d["kind"] == "paragraph" and d["iso639_3"] in codes and "-" not in d["bcp47"]
                    and "(" not in d["language_name"]):
                if seen.get(d["iso639_3"], 0) < per_code and len(d["text"]) > min_chars:
                    seen[d["iso639_3"]] = seen.get(d["iso639_3"], 0) + 1
                    out.append(d)
    return out


def test_doctests():
    for mod in (langid, lid_codes, lid_model):
        assert doctest.testmod(mod).failed == 0


def test_stage_keeps_allowed_languages_on_real_paragraphs(spark, tmp_path):
    paras = _udhr({"eng", "deu", "fra", "rus", "cmn"})
    rows = [{"id": d["id"], "text": d["text"]} for d in paras]
    kept, rejected, _ = run_stage(spark, "langid", {"languages": ["en", "de"], "min_score": 0.5}, rows, tmp_path)
    want = {d["id"]: lid_codes.ISO639_3_TO_LID176[d["iso639_3"]] for d in paras}
    assert {r["id"] for r in kept} == {i for i, code in want.items() if code in ("en", "de")}
    for r in rejected:
        assert r["drop_reason"] == f"lang:{want[r['id']]}"
        assert r["lang"] == want[r["id"]] and r["lang_score"] > 0.5


def test_stage_matches_raw_fasttext_on_multiline_text():
    # Newlines must not change the answer: a paragraph split over lines gets the same label and score.
    ident = LangIdentifier(LangIdConfig())
    paras = _udhr({"spa", "ita", "pol"}, per_code=2)
    texts = [d["text"] for d in paras]
    multiline = [t.replace(", ", ",\n").replace(". ", ".\r\n") for t in texts]
    raw_labels, raw_probs = lid_model.predict(ident.model, [t.replace("\n", " ") for t in texts])
    langs, scores, _ = ident.classify(multiline)
    assert langs == [row[0] for row in raw_labels]
    assert scores == pytest.approx([row[0] for row in raw_probs], abs=0.02)


def test_thresholds_and_edge_cases(spark, tmp_path):
    rows = [
        {"id": "empty", "text": ""},
        {"id": "blank", "text": "  \n\t \n"},
        {"id": "none", "text": None},
        {"id": "emoji", "text": "😀🎉🔥 😀🎉🔥 😀"},
        {"id": "digits", "text": "0123 4567 8910 1112"},
        {"id": "en", "text": "The committee will publish its final report on the new railway line next week."},
        {"id": "fr", "text": "Le comité publiera son rapport final sur la nouvelle ligne de chemin de fer."},
    ]
    params = {"min_score": 0.3, "min_scores": {"fr": 0.999}, "top_k": 3}
    kept, rejected, _ = run_stage(spark, "langid", params, rows, tmp_path)
    assert [r["id"] for r in kept] == ["en"]
    reasons = {r["id"]: r["drop_reason"] for r in rejected}
    assert reasons == {k: "lang:below_threshold" for k in ("empty", "blank", "none", "emoji", "digits", "fr")}
    by_id = {r["id"]: r for r in kept + rejected}
    assert by_id["empty"]["lang"] == "und" and by_id["empty"]["lang_score"] == 0.0
    assert by_id["fr"]["lang"] == "fr" and len(by_id["fr"]["lang_topk"]) == 3


def test_chunk_voting_follows_the_majority_language():
    ident = LangIdentifier(LangIdConfig(mode="chunks", chunk_chars=100, max_chars=2000))
    english = "The river flooded the lower town after three days of heavy rain in the hills. " * 6
    german = "Der Fluss überschwemmte nach drei Tagen Regen die untere Stadt am Ufer. "
    langs, scores, _ = ident.classify([german + english, english + german])
    assert langs == ["en", "en"]
    assert 0.5 < scores[0] <= 1.0
    prefix = LangIdentifier(LangIdConfig(max_chars=60))
    assert prefix.classify([german + english])[0] == ["de"]


def test_bad_model_path_fails_in_preflight(tmp_path):
    with pytest.raises(StageError, match="does not exist"):
        LangId(LangIdConfig(model_path=str(tmp_path / "missing.bin"))).preflight()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model")
    with pytest.raises(StageError, match="could not be loaded"):
        LangId(LangIdConfig(model_path=str(junk))).preflight()


def test_config_validation_names_the_key():
    with pytest.raises(ValidationError, match="min_score"):
        LangIdConfig.model_validate({"min_score": "high"})
    with pytest.raises(ValidationError, match="min_scores"):
        LangIdConfig.model_validate({"min_scores": {"en": 1.5}})
    with pytest.raises(ValidationError, match="mode"):
        LangIdConfig.model_validate({"mode": "vote"})


def test_ethiopic_word_separator_is_read_as_a_space():
    paras = _udhr({"amh"}, per_code=6, min_chars=40)
    assert len(paras) == 6
    langs, _, _ = LangIdentifier(LangIdConfig()).classify([d["text"] for d in paras])
    assert langs == ["am"] * 6


def test_chunk_mode_honours_top_k():
    english = "The river flooded the lower town after three days of heavy rain in the hills. " * 4
    german = "Der Fluss überschwemmte nach drei Tagen Regen die untere Stadt am Ufer des Sees. " * 2
    text = english + german
    one = LangIdentifier(LangIdConfig(mode="chunks", chunk_chars=100, max_chars=2000))
    three = LangIdentifier(LangIdConfig(mode="chunks", chunk_chars=100, max_chars=2000, top_k=3))
    (lang1,), (score1,), _ = one.classify([text])
    (lang3,), (score3,), (topk,) = three.classify([text])
    assert (lang3, score3) == (lang1, score1) == ("en", score1)  # top_k never changes the vote
    assert len(topk) == 3 and {"en", "de"} <= set(topk)
    assert list(topk) == sorted(topk, key=topk.get, reverse=True)
    assert topk["en"] > topk["de"] > 0.2 and sum(topk.values()) <= 1.0 + 1e-6


def test_prepare_is_one_line_with_separators_as_spaces():
    from gristmill.stages.fasttext_model import one_line
    from gristmill.stages.langid.stage import prepare
    seps = "\n\r\v\f\x85\u2028\u2029\t \u1361\u3000"
    rng = __import__("random").Random(0)
    for _ in range(300):
        text = "".join(rng.choice(["word", "ሰላም", "x", *seps]) for _ in range(rng.randint(0, 60)))
        expected = " ".join(one_line(text).replace("\u1361", " ").split())
        assert prepare(text, 10_000) == expected
        assert "\n" not in prepare(text, 8) and "\u1361" not in prepare(text, 8)
