"""The generation cache: finished generations survive a killed run and a changed config.

A key names everything that decides an answer: the chunk's digest, the style, the prompt's hash, the model and
the generation settings. Workers write one Parquet file per batch of generations, to a temporary name that is
renamed into place, so a file is either whole or absent: a run killed mid-stage resumes from the last batch
it finished, and a rerun with one more style generates only the new style. Errors are not cached (a rerun
tries them again); bad answers are (they would come out the same), and are judged again on every read, so a
changed check applies to cached answers too.

The folder lives outside the stage's temporary work folder (by default RUN/_cache/rephrase), because the
runner deletes that folder when a stage fails.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .backends import Generation

SCHEMA = pa.schema([("key", pa.string()), ("text", pa.string()), ("tokens_in", pa.int64()),
                    ("tokens_out", pa.int64()), ("finish_reason", pa.string())])


def chunk_digest(chunk: str) -> str:
    return hashlib.sha256(chunk.encode("utf-8")).hexdigest()


def cache_key(chunk: str, style: str, prompt_hash: str, model: str, settings_key: str) -> str:
    blob = json.dumps([chunk_digest(chunk), style, prompt_hash, model, settings_key])
    return hashlib.sha256(blob.encode()).hexdigest()


class GenerationCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._where: dict[str, Path] = {}  # key -> the file that holds it
        self._seen: set[str] = set()

    def refresh(self) -> None:
        """Index files other workers (or earlier runs) wrote since the last look: keys only, not texts."""
        for f in sorted(self.folder.glob("part-*.parquet")):
            if f.name in self._seen:
                continue
            self._seen.add(f.name)
            for k in pq.read_table(f, columns=["key"]).column("key").to_pylist():
                self._where[k] = f

    def __len__(self) -> int:
        return len(self._where)

    def get_many(self, keys: list[str]) -> dict[str, Generation]:
        by_file: dict[Path, set[str]] = {}
        for k in keys:
            if k in self._where:
                by_file.setdefault(self._where[k], set()).add(k)
        out = {}
        for f, wanted in by_file.items():
            for row in pq.read_table(f).to_pylist():
                if row["key"] in wanted:
                    out[row["key"]] = Generation(row["text"], row["tokens_in"], row["tokens_out"],
                                                 row["finish_reason"])
        return out

    def put_many(self, items: list[tuple[str, Generation]]) -> None:
        items = [(k, g) for k, g in items if g.error is None]
        if not items:
            return
        table = pa.Table.from_pylist([{"key": k, "text": g.text, "tokens_in": g.tokens_in, "tokens_out": g.tokens_out,
                                       "finish_reason": g.finish_reason} for k, g in items], schema=SCHEMA)
        name = f"part-{uuid.uuid4().hex}.parquet"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.folder / name)  # atomic: readers see the whole file or none
        self._seen.add(name)
        for k, _ in items:
            self._where[k] = self.folder / name
