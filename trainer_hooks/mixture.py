"""mixture.json: what the `mix` stage writes and every trainer hook reads.

{
  "format": "gristmill-mixture", "version": 1,
  "dtype": "uint16",                        # token id width of every shard
  "tokenizer": {"path": "...", "vocab_size": 8192, "eos_id": 0},
  "budget_tokens": 1234567,                 # tokens one pass of the mixture is meant to cover
  "domains": {"web": {"files": ["01-mix/shards/web/part-00000.bin"], "tokens": 99, "docs": 3,
                      "heldout_files": [...], "heldout_tokens": 9, "weight": 0.7, "epochs": 1.2}},
}
Paths are relative to the folder holding mixture.json.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "gristmill-mixture"
VERSION = 1
DTYPES = {"uint16": np.uint16, "uint32": np.uint32}


class MixtureError(ValueError):
    """A mixture file that cannot be used as it is; the message says what to do."""


@dataclass
class Domain:
    name: str
    files: list[Path]
    tokens: int
    weight: float
    heldout_files: list[Path]
    heldout_tokens: int
    epochs: float
    docs: int = 0


@dataclass
class Mixture:
    path: Path
    dtype: str
    tokenizer: dict
    budget_tokens: int
    domains: dict[str, Domain]
    raw: dict

    @property
    def weights(self) -> dict[str, float]:
        return {d: m.weight for d, m in self.domains.items()}

    @property
    def tokens(self) -> dict[str, int]:
        return {d: m.tokens for d, m in self.domains.items()}

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer["vocab_size"])

    def fingerprint(self) -> str:
        """Changes when the data or the mixture weights change; a resumed run must see the same one."""
        key = {d: [m.tokens, round(m.weight, 9), [str(f.name) for f in m.files]] for d, m in
               sorted(self.domains.items())}
        key["_vocab"] = self.vocab_size
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def load_mixture(path: str | Path) -> Mixture:
    path = Path(path)
    if path.is_dir():
        path = path / "mixture.json"
    if not path.exists():
        raise MixtureError(f"{path} does not exist; run a pipeline whose config ends with a `mix` stage first")
    try:
        raw = json.loads(path.read_text())
    except ValueError as e:
        raise MixtureError(f"{path} is not valid JSON ({e}); rerun the `mix` stage to rewrite it") from None
    if raw.get("format") != FORMAT:
        raise MixtureError(f"{path} is not a gristmill mixture (format={raw.get('format')!r})")
    version = raw.get("version")
    if version != VERSION:
        raise MixtureError(
            f"{path} has mixture format version {version!r} but this gristmill reads version {VERSION}; "
            f"rerun the `mix` stage with this version (gristmill run CONFIG --from-stage mix) to rewrite it")
    if raw.get("dtype") not in DTYPES:
        raise MixtureError(f"{path}: dtype must be one of {sorted(DTYPES)}, got {raw.get('dtype')!r}")
    base = path.parent
    domains = {}
    for name, d in (raw.get("domains") or {}).items():
        try:
            domains[name] = Domain(
                name=name, files=[base / f for f in d["files"]], tokens=int(d["tokens"]),
                weight=float(d["weight"]), heldout_files=[base / f for f in d.get("heldout_files", [])],
                heldout_tokens=int(d.get("heldout_tokens", 0)), epochs=float(d.get("epochs", 0.0)),
                docs=int(d.get("docs", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise MixtureError(f"{path}: domain {name!r} is missing or has a bad field ({e})") from None
    if not domains:
        raise MixtureError(f"{path} lists no domains")
    for d in domains.values():
        for f in d.files + d.heldout_files:
            if not f.exists():
                raise MixtureError(f"{path}: shard {f} of domain {d.name!r} is missing; rerun the `mix` stage")
    return Mixture(path=path, dtype=raw["dtype"], tokenizer=raw.get("tokenizer") or {},
                   budget_tokens=int(raw.get("budget_tokens", 0)), domains=domains, raw=raw)


def open_shards(files: list[Path], dtype: str) -> list[np.ndarray]:
    """Read-only memmaps; empty files are skipped (np.memmap refuses zero-length files)."""
    return [np.memmap(f, dtype=DTYPES[dtype], mode="r") for f in files if f.stat().st_size > 0]


def write_mixture(folder: str | Path, domains: dict[str, tuple[np.ndarray, np.ndarray]], *, vocab_size: int,
                  weights: dict[str, float] | None = None, tokenizer_path: str | None = None,
                  eos_id: int = 0) -> Path:
    """Write a mixture from token arrays already in memory: {domain: (train_ids, heldout_ids)}.

    For data tokenized outside gristmill (the `mix` stage writes mixtures from a pipeline run). Weights default
    to natural (by train tokens)."""
    folder = Path(folder)
    dtype = "uint16" if vocab_size <= 65535 else "uint32"
    total = sum(len(t) for t, _ in domains.values())
    out = {}
    for name, (train_ids, held_ids) in domains.items():
        entry = {"files": [], "tokens": int(len(train_ids)), "heldout_files": [],
                 "heldout_tokens": int(len(held_ids))}
        for split, ids in (("train", train_ids), ("heldout", held_ids)):
            if len(ids):
                rel = f"shards/{split}/{name}.bin"
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                np.asarray(ids, dtype=DTYPES[dtype]).tofile(folder / rel)
                entry["files" if split == "train" else "heldout_files"].append(rel)
        w = weights.get(name, 0.0) if weights else (len(train_ids) / total if total else 0.0)
        entry.update(weight=float(w), epochs=float(w * total / len(train_ids)) if len(train_ids) else 0.0)
        out[name] = entry
    raw = {"format": FORMAT, "version": VERSION, "dtype": dtype,
           "tokenizer": {"path": tokenizer_path, "vocab_size": vocab_size, "eos_id": eos_id},
           "budget_tokens": total, "domains": out}
    path = folder / "mixture.json"
    path.write_text(json.dumps(raw, indent=2))
    return path
