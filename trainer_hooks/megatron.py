"""A mixture as Megatron-LM indexed datasets: one `.bin` + `.idx` pair per domain and the blend line.

Megatron's indexed dataset (megatron/core/datasets/indexed_dataset.py, format "MMIDIDX") is written here from
the format itself, without importing Megatron:
  .bin  every document's token ids, back to back, in the index's dtype
  .idx  b"MMIDIDX\\x00\\x00", version (uint64 = 1), dtype code (uint8), sequence count S (uint64), document count
        S + 1 (uint64), then the sequence lengths (int32 x S), the sequence byte offsets into .bin (int64 x S) and
        the document boundaries (int64 x (S + 1): 0, 1, ..., S; one sequence per document).
Each document ends with the tokenizer's end-of-text id (Megatron's preprocess_data.py --append-eod).

The documents are the mixture's own: mix packs each document as its ids followed by EOS, so the shards split back
into documents at EOS. With the mixture's tokenizer the ids are copied; with another tokenizer each document is
decoded with the mixture's tokenizer and encoded again, which is exact when the mixture's tokenizer round-trips
(mix's byte-level BPE does; this is checked on every document and a failure names the domain).
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from .mixture import Mixture, MixtureError, load_mixture, open_shards

MAGIC = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
               np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7, np.dtype(np.uint16): 8}


def index_dtype(vocab_size: int) -> np.dtype:
    """Megatron's choice: uint16 below 65,500 ids, int32 above."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


class IndexedDatasetWriter:
    """Writes PREFIX.bin while documents arrive and PREFIX.idx at close."""

    def __init__(self, prefix: str | Path, dtype: np.dtype):
        self.prefix, self.dtype = Path(prefix), np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"Megatron indexed datasets have no dtype {self.dtype}")
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._bin = open(self.prefix.with_suffix(".bin.tmp"), "wb")
        self.lengths: list[int] = []

    def add(self, ids: np.ndarray) -> None:
        arr = np.asarray(ids)
        if arr.size and (arr.min() < 0 or arr.max() > np.iinfo(self.dtype).max):
            raise MixtureError(f"{self.prefix}: token id {arr.max()} does not fit {self.dtype}")
        self._bin.write(arr.astype(self.dtype, copy=False).tobytes())
        self.lengths.append(int(arr.size))

    def close(self) -> dict:
        self._bin.close()
        n = len(self.lengths)
        lengths = np.asarray(self.lengths, dtype=np.int32)
        pointers = np.zeros(n, dtype=np.int64)
        if n > 1:
            pointers[1:] = np.cumsum(lengths[:-1], dtype=np.int64) * self.dtype.itemsize
        tmp = self.prefix.with_suffix(".idx.tmp")
        with open(tmp, "wb") as fh:
            fh.write(MAGIC)
            fh.write(struct.pack("<Q", 1))
            fh.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            fh.write(struct.pack("<Q", n))
            fh.write(struct.pack("<Q", n + 1))
            fh.write(lengths.tobytes(order="C"))
            fh.write(pointers.tobytes(order="C"))
            fh.write(np.arange(n + 1, dtype=np.int64).tobytes(order="C"))
        self.prefix.with_suffix(".bin.tmp").replace(self.prefix.with_suffix(".bin"))
        tmp.replace(self.prefix.with_suffix(".idx"))
        return {"documents": n, "tokens": int(lengths.sum(dtype=np.int64))}


def documents(files: list[Path], dtype: str, eos: int) -> Iterator[np.ndarray]:
    """Each document of packed shards (ids + EOS each), EOS included; a tail without EOS is a document too."""
    for arr in open_shards(files, dtype):
        ends = np.flatnonzero(arr == eos) + 1
        start = 0
        for end in ends:
            yield np.asarray(arr[start:end])
            start = int(end)
        if start < len(arr):
            yield np.asarray(arr[start:])


def _tokenizer(path: str | Path):
    from gristmill.stages.text_tokenizer import load_tokenizer
    tok = load_tokenizer(path)
    tok.no_truncation()  # a tokenizer.json saved with truncation or padding would cut documents silently
    tok.no_padding()
    return tok


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


class _Recoder:
    """Mixture ids -> text -> another tokenizer's ids (+ its EOS), checking the mixture's tokenizer round-trips."""

    def __init__(self, mixture: Mixture, target: str | Path):
        from gristmill.stages.text_tokenizer import eos_id
        src = mixture.tokenizer.get("path")
        if not src:
            raise MixtureError(f"{mixture.path} names no tokenizer file, so its documents cannot be decoded for "
                               f"another tokenizer; export with the mixture's own ids (no --tokenizer)")
        self.src = _tokenizer(mixture.path.parent / src)
        self.dst = _tokenizer(target)
        self.eos_src, self.eos_dst = int(mixture.tokenizer["eos_id"]), eos_id(self.dst)
        self.vocab = self.dst.get_vocab_size()

    def __call__(self, doc: np.ndarray, domain: str) -> np.ndarray:
        ids = doc[:-1] if len(doc) and doc[-1] == self.eos_src else doc
        text = self.src.decode(ids.tolist(), skip_special_tokens=False)
        if self.src.encode(text, add_special_tokens=False).ids != ids.tolist():
            raise MixtureError(f"domain {domain!r}: the mixture's tokenizer does not decode this document back to "
                               f"its ids, so re-tokenizing would change it; export without --tokenizer")
        return np.asarray(self.dst.encode(text, add_special_tokens=False).ids + [self.eos_dst], dtype=np.int64)


def export_megatron(mixture_path: str | Path, out: str | Path, tokenizer: str | Path | None = None) -> dict:
    """Write OUT/<domain>.bin/.idx (and <domain>_heldout.* when the mixture has held-out shards), OUT/blend.txt
    (Megatron's --data-path and --valid-data-path arguments: weight prefix pairs) and OUT/export.json."""
    mixture = load_mixture(mixture_path)
    out = Path(out).resolve()
    recode = _Recoder(mixture, tokenizer) if tokenizer else None
    vocab = recode.vocab if recode else mixture.vocab_size
    dtype = index_dtype(vocab)
    eos = int(mixture.tokenizer.get("eos_id", 0))
    summary: dict = {"mixture": str(mixture.path), "tokenizer": str(tokenizer or mixture.tokenizer.get("path")),
                     "dtype": dtype.name, "domains": {}}
    blend = {"train": [], "heldout": []}
    for name, d in sorted(mixture.domains.items()):
        entry = {"weight": d.weight}
        for split, files in (("train", d.files), ("heldout", d.heldout_files)):
            if not files:
                continue
            prefix = out / (_safe(name) + ("" if split == "train" else "_heldout"))
            w = IndexedDatasetWriter(prefix, dtype)
            for doc in documents(files, mixture.dtype, eos):
                w.add(recode(doc, name) if recode else doc)
            entry[split] = {"prefix": str(prefix), **w.close()}
            if d.weight > 0 and entry[split]["documents"]:
                blend[split] += [f"{d.weight:.6g}", str(prefix)]
        summary["domains"][name] = entry
    summary["data_path"] = " ".join(blend["train"])
    summary["valid_data_path"] = " ".join(blend["heldout"])
    lines = [f"--data-path {summary['data_path']}"]
    if blend["heldout"]:
        lines.append(f"--valid-data-path {summary['valid_data_path']}")
    (out / "blend.txt").write_text("\n".join(lines) + "\n")
    (out / "export.json").write_text(json.dumps(summary, indent=2))
    return summary
