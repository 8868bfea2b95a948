"""One reader for hand-given examples (train-quality, train-domain, selector targets), and one flag
vocabulary for the two training commands."""
from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.pipeline.inputs.examples import read_labelled, read_texts
from gristmill.pipeline.stage import StageError
from gristmill.selectors.base import SelectorError
from gristmill.selectors.run_select import read_target_texts

ROWS = [{"text": "The mill ground wheat.", "domain": "history"}, {"text": "", "domain": "history"},
        {"text": "def f(): return 1", "domain": "code"}]


def _files(tmp_path):
    jl = tmp_path / "a.jsonl.gz"
    with gzip.open(jl, "wt", encoding="utf-8") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in ROWS) + "\n")
    pqf = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), pqf)
    txt = tmp_path / "a.txt"
    txt.write_text("The mill ground wheat.\n\n  def f(): return 1  \n")
    return jl, pqf, txt


def test_every_format_gives_the_same_texts(tmp_path):
    for path in _files(tmp_path):
        assert read_texts(path) == ["The mill ground wheat.", "def f(): return 1"], path
    jl, pqf, _ = _files(tmp_path)
    assert read_labelled([str(jl)]) == read_labelled([str(pqf)]) == [
        ("history", "The mill ground wheat."), ("history", ""), ("code", "def f(): return 1")]


def test_bad_rows_name_file_and_row(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "domain": "a"}\n{"text": "x"\n')
    with pytest.raises(StageError, match=r"bad.jsonl, line 2: not valid JSON"):
        read_texts(bad)
    bad.write_text('{"text": "ok", "domain": "a"}\n{"body": "x"}\n')
    with pytest.raises(StageError, match=r"bad.jsonl, line 2: expected an object with a 'text' field"):
        read_texts(bad)
    bad.write_text('{"text": "ok", "domain": "a"}\n{"text": "x", "domain": " "}\n')
    with pytest.raises(StageError, match=r"bad.jsonl row 2: no 'domain'"):
        read_labelled([str(bad)])
    with pytest.raises(StageError, match="does not exist"):
        read_texts(tmp_path / "nope.jsonl")
    # the selectors keep their own error type, with the reader's message
    with pytest.raises(SelectorError, match="nope.jsonl does not exist"):
        read_target_texts(str(tmp_path / "nope.jsonl"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(SelectorError, match="no non-empty examples"):
        read_target_texts(str(empty))


def test_training_commands_share_flags_and_old_ones_warn(capsys):
    import argparse

    from gristmill.pipeline.cli import train_domain, train_quality
    parsers = {}
    for mod in (train_domain, train_quality):
        p = argparse.ArgumentParser()
        mod.add_arguments(p)
        parsers[mod] = p
    shared = ["--epochs", "7", "--holdout", "0.3", "--lr", "0.2", "--dim", "16", "--word-ngrams", "1",
              "--max-chars", "100", "--seed", "3", "--text-field", "body", "-o", "m.bin"]
    d = parsers[train_domain].parse_args(["x.jsonl"] + shared)
    q = parsers[train_quality].parse_args(["--positive", "p", "--negative", "n"] + shared)
    for k in ("epochs", "holdout", "lr", "dim", "word_ngrams", "max_chars", "seed", "text_field"):
        assert getattr(d, k) == getattr(q, k), k
    old = parsers[train_domain].parse_args(["x.jsonl", "-o", "m.bin", "--epoch", "9", "--valid-fraction", "0.2"])
    assert (old.epochs, old.holdout) == (9, 0.2)
    err = capsys.readouterr().err
    assert "--epoch is deprecated" in err and "use --epochs" in err and "--valid-fraction is deprecated" in err
