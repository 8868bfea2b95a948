"""Config validation: errors name the key and the file; hashes chain upstream."""
import pytest

from gristmill.pipeline.config import ConfigError, load_config, parse_config
from gristmill.pipeline.fingerprint import stage_hashes


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_typo_in_top_level_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "name: x\ninput: {format: jsonl, path: a.jsonl}\nstagse: []\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value) and "stagse: unknown key" in str(e.value)


def test_wrong_type_in_stage_param(tmp_path):
    p = write(tmp_path, "input: {path: a.jsonl}\nstages:\n  - length: {min_chars: lots}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "stages[0].length.min_chars" in str(e.value)


def test_unknown_stage_lists_known(tmp_path):
    p = write(tmp_path, "input: {path: a.jsonl}\nstages:\n  - langidd: {}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "unknown stage 'langidd'" in str(e.value) and "dedup_exact" in str(e.value)


def test_yaml_is_safe_loaded(tmp_path):
    p = write(tmp_path, "input: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_stage_hash_covers_upstream():
    _, a = parse_config({"input": {"path": "x"}, "stages": [{"length": {"min_chars": 5}}, {"dedup_exact": {}}]})
    _, b = parse_config({"input": {"path": "x"}, "stages": [{"length": {"min_chars": 6}}, {"dedup_exact": {}}]})
    ha, hb = stage_hashes("in", a), stage_hashes("in", b)
    assert ha[0] != hb[0] and ha[1] != hb[1]  # downstream changes with upstream params
    assert stage_hashes("in", a) == ha and stage_hashes("other", a)[0] != ha[0]


def test_a_key_given_twice_is_refused_with_its_lines(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ninput: {format: jsonl, path: a.jsonl}\nstages: []\ninput: {format: txt, path: b}\n")
    with pytest.raises(ConfigError, match=r"'input' appears twice.*lines 2 and 4"):
        load_config(p)
    p.write_text("name: x\ninput: {format: jsonl, path: a.jsonl, path: b.jsonl}\nstages: []\n")
    with pytest.raises(ConfigError, match=r"'path' appears twice"):
        load_config(p)


def test_merge_keys_may_override(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nbase: &b {format: jsonl, path: a.jsonl}\ninput: {<<: *b, path: b.jsonl}\nstages: []\n")
    with pytest.raises(ConfigError, match="base"):  # an unknown top-level key, not a duplicate
        load_config(p)


def test_an_anchor_bomb_is_refused_quickly(tmp_path):
    import time
    lines = ["name: x", "input: {format: jsonl, path: a.jsonl}", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    lines += ["stages:", "  - select: {selector: dsir, budget: 4, params: {bomb: *a8}}"]
    p = tmp_path / "c.yaml"
    p.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(ConfigError, match="aliases"):
        load_config(p)
    assert time.monotonic() - start < 2
