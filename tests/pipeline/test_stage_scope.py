"""Per-domain recipes: `where:` (a Spark SQL predicate) or `domains:` on any stage. The stage sees only the rows
inside; the others pass through it untouched and are counted. Real Spark, real stages, the runner's own path."""
from __future__ import annotations

import gzip
import json

import pytest
from helpers import TEST_DATA, docs_df, run_stage

from gristmill.pipeline.config import ConfigError, parse_config
from gristmill.pipeline.errors import StageError
from gristmill.pipeline.runner import execute_stage
from gristmill.pipeline.stage import StageContext, get_stage

CODE = "def f(x):\n    return {x: x ** 2}\n" * 20  # no line ends in punctuation: FineWeb's line_punct_ratio


def _udhr(code: str, n: int) -> list[str]:
    out = []
    with gzip.open(TEST_DATA / "lid" / "udhr_9langs_paragraphs.jsonl.gz", "rt") as fh:
        for line in fh:
            d = json.loads(line)
            if d["kind"] == "paragraph" and d["iso639_3"] == code and "-" not in d["bcp47"] and len(d["text"]) > 200:
                out.append(d["text"])
    return out[:n]


def test_quality_applies_only_to_web_rows_and_code_passes_through(spark, tmp_path):
    # a real paragraph that ends in punctuation (FineWeb's line_punct_ratio keeps it)
    prose = next(t for t in _udhr("eng", 4) if t.rstrip().endswith("."))
    rows = [{"id": "web-code", "text": CODE, "domain": "web"}, {"id": "web-prose", "text": prose, "domain": "web"},
            {"id": "code", "text": CODE, "domain": "code"}, {"id": "none", "text": CODE, "domain": None}]
    # the reference: FineWeb's rules on their own reject this code text
    _, rej, _ = run_stage(spark, "quality", {"rules": ["fineweb"]}, rows[:1], tmp_path / "ref")
    assert [r["drop_reason"] for r in rej] == ["fineweb:line_punct_ratio"]

    kept, rejected, _ = run_stage(spark, "quality", {"rules": ["fineweb"], "domains": ["web"]}, rows, tmp_path / "a")
    assert {r["id"]: r["drop_reason"] for r in rejected} == {"web-code": "fineweb:line_punct_ratio"}
    by_id = {r["id"]: r for r in kept}
    assert set(by_id) == {"web-prose", "code", "none"}
    assert by_id["web-prose"]["fineweb_line_punct_ratio"] == pytest.approx(1.0)
    for i in ("code", "none"):  # untouched: the stage's columns are null, the text as it came
        assert by_id[i]["fineweb_line_punct_ratio"] is None and by_id[i]["text"] == CODE


def test_where_predicate_and_passed_through_counts(spark, tmp_path):
    rows = [{"id": f"w{i}", "text": "short", "domain": "web"} for i in range(3)] + \
           [{"id": f"c{i}", "text": "short", "domain": "code"} for i in range(2)]
    cls = get_stage("length")
    stage = cls(cls.Config.model_validate({"min_chars": 100, "where": "domain in ('web')"}),
                StageContext(spark=spark, run_dir=tmp_path, work_dir=tmp_path, stage_dir=tmp_path, index=1,
                             name="length"))
    counts, _ = execute_stage(stage, docs_df(spark, rows), tmp_path)
    assert (counts["in"], counts["kept"], counts["rejected"], counts["passed_through"]) == (5, 2, 3, 2)


def test_per_domain_language_lists(spark, tmp_path):
    en, es = _udhr("eng", 1)[0], _udhr("spa", 1)[0]
    rows = [{"id": "web-en", "text": en, "domain": "web"}, {"id": "web-es", "text": es, "domain": "web"},
            {"id": "se-en", "text": en, "domain": "stackexchange"}, {"id": "se-es", "text": es,
                                                                      "domain": "stackexchange"}]
    kept, rejected, _ = run_stage(spark, "langid", {"languages": ["en"], "domains": ["web"]}, rows, tmp_path / "a")
    assert {r["id"] for r in rejected} == {"web-es"}
    df = spark.read.parquet(str(tmp_path / "a" / "stage-langid" / "kept"))
    kept, rejected, _ = run_stage(spark, "langid", {"languages": ["en", "es"], "domains": ["stackexchange"]}, df,
                                  tmp_path / "b")
    assert {r["id"] for r in kept} == {"web-en", "se-en", "se-es"} and not rejected
    # the second langid set lang on stackexchange rows and left the web rows' lang from the first
    assert {r["id"]: r["lang"] for r in kept} == {"web-en": "en", "se-en": "en", "se-es": "es"}


def test_scope_is_checked_at_plan_time(tmp_path):
    base = {"name": "t", "input": {"format": "jsonl", "path": str(tmp_path / "x.jsonl")}}
    with pytest.raises(ConfigError, match="either `where` or `domains`"):
        parse_config({**base, "stages": [{"length": {"where": "domain = 'web'", "domains": ["web"]}}]}, "c.yaml")
    with pytest.raises(ConfigError, match="domains"):
        parse_config({**base, "stages": [{"length": {"domains": []}}]}, "c.yaml")
    _, stages = parse_config({**base, "stages": [{"length": {"domains": ["web", "it's"]}}]}, "c.yaml")
    cls, params = stages[0]
    assert params.scope_sql() == "domain IN ('web', 'it''s')"
    with pytest.raises(StageError, match="domain"):  # domains needs the `domain` column: add the domain stage
        cls(params).check_columns(["id", "text"])
    _, stages = parse_config({**base, "stages": [{"embed": {"where": "domain = 'web'"}}]}, "c.yaml")
    cls, params = stages[0]
    with pytest.raises(StageError, match="passes its documents through"):
        cls(params).check_columns(["id", "text", "domain"])
    # an unset scope leaves a stage's settings (and so its hash) as they were
    _, stages = parse_config({**base, "stages": [{"length": {}}]}, "c.yaml")
    assert "where" not in stages[0][1].model_dump() and "domains" not in stages[0][1].model_dump()


def test_a_bad_predicate_names_the_stage(spark, tmp_path):
    with pytest.raises(StageError, match="length.*nosuchcolumn"):
        run_stage(spark, "length", {"where": "nosuchcolumn = 1"}, [{"id": "a", "text": "x"}], tmp_path)
