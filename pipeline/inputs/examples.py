"""Example documents given by hand: training sets of `train-quality` and `train-domain`, and the target set
of the target-aware selectors. One reader for all of them.

Formats, by file name: `.parquet`; `.jsonl`/`.json` (optionally `.gz`), one object per line; anything else
is text with one example per line. A bad row is an error naming the file and the row.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Iterator

from ..stage import StageError


def iter_examples(path: str | Path, fields: tuple[str, ...] = ("text",)) -> Iterator[tuple[int, dict]]:
    """(row number from 1, {field: value}) for every non-blank row; a `.txt` line fills the first field."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise StageError(f"{p} does not exist (or is not a file); pass a .jsonl(.gz), .parquet or .txt file")
    name = p.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq
        columns = pq.read_schema(p).names
        missing = [f for f in fields if f not in columns]
        if missing:
            raise StageError(f"{p}: no column {missing} (columns: {columns}); name the field with --text-field "
                             f"or --label-field")
        for i, row in enumerate(pq.read_table(p, columns=list(fields)).to_pylist(), 1):
            yield i, row
        return
    as_json = name.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz"))
    opener = gzip.open if name.endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if not as_json:
                yield i, {fields[0]: line.strip()}
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise StageError(f"{p}, line {i}: not valid JSON ({e})") from None
            if not isinstance(obj, dict) or fields[0] not in obj:
                raise StageError(f"{p}, line {i}: expected an object with a {fields[0]!r} field; name the field "
                                 f"with --text-field")
            yield i, {f: obj.get(f) for f in fields}


def read_texts(path: str | Path, field: str = "text") -> list[str]:
    """The non-empty texts of one file."""
    return [row[field] for _, row in iter_examples(path, (field,)) if row[field]]


def read_labelled(paths: list[str], text_field: str = "text", label_field: str = "domain") -> list[tuple[str, str]]:
    """(label, text) pairs from every file; every row needs a label, and there must be two labels."""
    rows = []
    for path in paths:
        for i, obj in iter_examples(path, (text_field, label_field)):
            label = obj.get(label_field)
            if not isinstance(label, str) or not label.strip():
                raise StageError(f"{path} row {i}: no {label_field!r}; every training row needs a label "
                                 f"(name its field with --label-field)")
            rows.append((" ".join(label.split()), obj.get(text_field) or ""))
    if len({lab for lab, _ in rows}) < 2:
        raise StageError("training needs at least two different labels in the inputs (train-domain: two "
                         "different domains)")
    return rows
