"""format: hf_dataset reads what `datasets.load_dataset` reads from local files or folders, through its cache."""
import csv
import json

import pytest

from gristmill.pipeline.config import InputConfig
from gristmill.pipeline.inputs.readers import ReadError, iter_task, plan_tasks
from gristmill.pipeline.inputs.sources import resolve_input


def rows(cfg):
    return [r for task in plan_tasks(cfg) for r in iter_task(cfg, *task)]


def test_jsonl_and_csv_files_through_load_dataset(tmp_path):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": t, "url": f"u{i}"})
                                                for i, t in enumerate(["alpha", "beta"])) + "\n")
    with open(tmp_path / "b.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["text", "url"], ["gamma", "u9"]])
    run = tmp_path / "run"
    cfg = resolve_input(InputConfig(format="hf_dataset", path=str(tmp_path / "a.jsonl")), run)
    assert cfg.format == "hf_disk" and all(str(run / "_input") in p for p in cfg.path)
    out = rows(cfg)
    assert [(r["text"], r["url"]) for r in out] == [("alpha", "u0"), ("beta", "u1")]
    assert len({r["id"] for r in out}) == 2
    again = resolve_input(InputConfig(format="hf_dataset", path=str(tmp_path / "a.jsonl")), run)
    assert again.path == cfg.path  # the cache is reused, so a rerun's input fingerprint matches
    out = rows(resolve_input(InputConfig(format="hf_dataset", path=str(tmp_path / "b.csv")), run))
    assert [r["text"] for r in out] == ["gamma"]


def test_a_folder_and_a_split(tmp_path):
    data = tmp_path / "ds"
    data.mkdir()
    (data / "train.jsonl").write_text(json.dumps({"text": "train doc"}) + "\n")
    (data / "test.jsonl").write_text(json.dumps({"text": "test doc"}) + "\n")
    for split, want in (("train", "train doc"), ("test", "test doc")):
        cfg = resolve_input(InputConfig(format="hf_dataset", path=str(data), split=split), tmp_path / "run")
        assert [r["text"] for r in rows(cfg)] == [want]


def test_a_saved_dataset_folder_is_read_with_load_from_disk(tmp_path):
    import datasets
    datasets.Dataset.from_dict({"text": ["x one", "y two"]}).save_to_disk(str(tmp_path / "saved"))
    cfg = resolve_input(InputConfig(format="hf_dataset", path=str(tmp_path / "saved")), tmp_path / "run")
    assert sorted(r["text"] for r in rows(cfg)) == ["x one", "y two"]


def test_missing_split_and_missing_path_are_clear(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "t"}) + "\n")
    with pytest.raises(ReadError, match=r"a.jsonl.*split 'validation'.*train"):
        resolve_input(InputConfig(format="hf_dataset", path=str(tmp_path / "a.jsonl"), split="validation"),
                      tmp_path / "run")
    with pytest.raises(ReadError, match="nope"):
        resolve_input(InputConfig(format="hf_dataset", path=str(tmp_path / "nope.jsonl")), tmp_path / "run")
