"""`--set key=value` on run/describe: dotted keys into the YAML, values parsed as YAML."""
import pytest

from gristmill.pipeline.config import ConfigError, apply_overrides, load_config


def test_dotted_keys_set_nested_values_parsed_as_yaml():
    raw = {"input": {"format": "jsonl", "path": "a.jsonl"}, "stages": [{"length": {"min_chars": 1}}]}
    out = apply_overrides(raw, ["input.path=data/*.jsonl", "input.limit=10", "spark.master=local[1]",
                                "stages.length.min_chars=200", "stages.0.length.max_chars=5000",
                                "input.keep_fields=[domain, lang]"])
    assert out["input"] == {"format": "jsonl", "path": "data/*.jsonl", "limit": 10, "keep_fields": ["domain", "lang"]}
    assert out["spark"] == {"master": "local[1]"}
    assert out["stages"] == [{"length": {"min_chars": 200, "max_chars": 5000}}]
    assert raw["input"]["path"] == "a.jsonl"  # the caller's dict is left alone


def test_stage_given_as_null_can_be_set():
    out = apply_overrides({"stages": [{"normalize": None}]}, ["stages.normalize.form=NFKC"])
    assert out["stages"] == [{"normalize": {"form": "NFKC"}}]


@pytest.mark.parametrize("bad, msg", [
    ("input.path", "expected KEY=VALUE"),
    ("stages.langid.min_score=0.5", "no stage 'langid'"),
    ("stages.7.length.min_chars=1", "stages has 1 entries"),
    ("input.path.x=1", "input.path is not a mapping"),
])
def test_bad_overrides_say_what_is_wrong(bad, msg):
    raw = {"input": {"path": "a.jsonl"}, "stages": [{"length": {}}]}
    with pytest.raises(ConfigError, match=msg):
        apply_overrides(raw, [bad])


def test_load_config_applies_overrides_before_validation(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("input: {format: jsonl, path: a.jsonl}\nstages:\n  - length: {min_chars: 1}\n")
    cfg, stages = load_config(p, overrides=["input.path=[x.jsonl, y.jsonl]", "stages.length.min_chars=50"])
    assert cfg.input.path == ["x.jsonl", "y.jsonl"]
    assert stages[0][1].min_chars == 50
    with pytest.raises(ConfigError, match="min_chars"):
        load_config(p, overrides=["stages.length.min_chars=lots"])
