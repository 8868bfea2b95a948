"""mixture.json: the one contract between data preparation and training.

`MixtureSpec` is its schema; `save_mixture` is its one writer (the `mix` stage calls it) and `load_mixture` its
one reader (every trainer hook calls it). On disk:

{
  "format": "gristmill-mixture", "version": 1,
  "dtype": "uint16",                        # token id width of every shard
  "tokenizer": {"path": "...", "vocab_size": 8192, "eos_id": 0},
  "budget_tokens": 1234567,                 # tokens one pass of the mixture is meant to cover
  "max_epochs": 4.0,                        # repetition cap the trainer enforces (null: no cap recorded)
  "weights_method": "temperature",
  "origin_ratio": {"real": 0.5, "synthetic": 0.5},   # only when the data had rephrased rows
  "style_weights": {"medium": 0.5, "qa": 0.5},       # idem
  "domains": {"web": {"files": ["01-mix/shards/train/web/part-0.bin"], "tokens": 99, "docs": 3,
                      "heldout_files": [...], "heldout_tokens": 9, "heldout_docs": 1,
                      "weight": 0.7, "epochs": 1.2,
                      "group": "web", "origin": "real", "style": null}},
}
A mixture domain is one (domain, origin, style) cell: real text keeps the domain's name; rephrased text of style
S is the domain "<domain>:synthetic:<S>" with `group` naming its domain. Paths are relative to the folder
holding mixture.json. Files written before `max_epochs`, `group`, `origin` and `style` existed still load.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "gristmill-mixture"
VERSION = 1
DTYPES = {"uint16": np.uint16, "uint32": np.uint32}


class MixtureError(ValueError):
    """A mixture file that cannot be used as it is; the message says what to do."""


def cell_name(domain: str, origin: str = "real", style: str | None = None) -> str:
    """The mixture-domain name of one (domain, origin, style) cell.

    >>> cell_name("web"), cell_name("web", "synthetic", "qa")
    ('web', 'web:synthetic:qa')
    """
    return domain if origin == "real" else f"{domain}:{origin}:{style or 'default'}"


@dataclass
class DomainEntry:
    """One mixture domain as written: shard paths relative to mixture.json."""
    files: list[str]
    tokens: int
    weight: float
    epochs: float = 0.0
    docs: int = 0
    heldout_files: list[str] = field(default_factory=list)
    heldout_tokens: int = 0
    heldout_docs: int = 0
    group: str | None = None  # the domain a synthetic cell belongs to (None: the entry's own name)
    origin: str = "real"
    style: str | None = None


@dataclass
class MixtureSpec:
    dtype: str
    tokenizer: dict
    budget_tokens: int
    domains: dict[str, DomainEntry]
    max_epochs: float | None = None
    weights_method: str = "explicit"
    origin_ratio: dict[str, float] | None = None
    style_weights: dict[str, float] | None = None

    def to_json(self) -> dict:
        out = {"format": FORMAT, "version": VERSION, **asdict(self)}
        out["domains"] = {k: asdict(v) for k, v in sorted(self.domains.items())}
        return out

    @classmethod
    def from_json(cls, raw: dict, where: str) -> "MixtureSpec":
        if raw.get("format") != FORMAT:
            raise MixtureError(f"{where} is not a gristmill mixture (format={raw.get('format')!r})")
        version = raw.get("version")
        if version != VERSION:
            raise MixtureError(
                f"{where} has mixture format version {version!r} but this gristmill reads version {VERSION}; "
                f"rerun the `mix` stage with this version (gristmill run CONFIG --from-stage mix) to rewrite it")
        if raw.get("dtype") not in DTYPES:
            raise MixtureError(f"{where}: dtype must be one of {sorted(DTYPES)}, got {raw.get('dtype')!r}")
        domains = {}
        known = set(DomainEntry.__dataclass_fields__)
        for name, d in (raw.get("domains") or {}).items():
            try:
                e = DomainEntry(**{k: v for k, v in d.items() if k in known})
                e.tokens, e.weight, e.epochs = int(e.tokens), float(e.weight), float(e.epochs)
            except (TypeError, ValueError) as err:
                raise MixtureError(f"{where}: domain {name!r} is missing or has a bad field ({err})") from None
            domains[name] = e
        if not domains:
            raise MixtureError(f"{where} lists no domains")
        cap = raw.get("max_epochs")
        return cls(dtype=raw["dtype"], tokenizer=raw.get("tokenizer") or {},
                   budget_tokens=int(raw.get("budget_tokens") or 0), domains=domains,
                   max_epochs=float(cap) if cap is not None else None,
                   weights_method=raw.get("weights_method", "explicit"), origin_ratio=raw.get("origin_ratio"),
                   style_weights=raw.get("style_weights"))


@dataclass
class Domain:
    """One mixture domain as read: shard paths resolved."""
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
    spec: MixtureSpec
    domains: dict[str, Domain]

    @property
    def dtype(self) -> str:
        return self.spec.dtype

    @property
    def tokenizer(self) -> dict:
        return self.spec.tokenizer

    @property
    def budget_tokens(self) -> int:
        return self.spec.budget_tokens

    @property
    def max_epochs(self) -> float | None:
        return self.spec.max_epochs

    @property
    def weights(self) -> dict[str, float]:
        return {d: m.weight for d, m in self.domains.items()}

    @property
    def tokens(self) -> dict[str, int]:
        return {d: m.tokens for d, m in self.domains.items()}

    @property
    def groups(self) -> dict[str, str] | None:
        """Mixture domain -> the domain it belongs to, when mix split domains into (origin, style) cells."""
        groups = {d: (self.spec.domains[d].group or d) for d in self.domains if d in self.spec.domains}
        return groups if any(g != d for d, g in groups.items()) else None

    def shares_within_groups(self) -> dict[str, float]:
        """Each cell's share of its domain as mix weighted it (by tokens where mix gave the domain no weight)."""
        groups = self.groups or {d: d for d in self.domains}
        out = {}
        for g in set(groups.values()):
            cells = [d for d in self.domains if groups.get(d, d) == g]
            basis = {d: self.domains[d].weight for d in cells}
            if sum(basis.values()) <= 0:
                basis = {d: float(self.domains[d].tokens) for d in cells}
            total = sum(basis.values()) or 1.0
            out.update({d: v / total for d, v in basis.items()})
        return out

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer["vocab_size"])

    def fingerprint(self) -> str:
        """Changes when the data or the mixture weights change; a resumed run must see the same one."""
        key = {d: [m.tokens, round(m.weight, 9), [str(f.name) for f in m.files]] for d, m in
               sorted(self.domains.items())}
        key["_vocab"] = self.vocab_size
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def save_mixture(spec: MixtureSpec, path: str | Path) -> Path:
    """The one writer: mixture.json written atomically (a killed writer never leaves half a file)."""
    path = Path(path)
    if path.is_dir():
        path = path / "mixture.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(spec.to_json(), indent=2))
    os.replace(tmp, path)
    return path


def load_mixture(path: str | Path) -> Mixture:
    """The one reader: parse, check every shard exists, resolve paths."""
    path = Path(path)
    if path.is_dir():
        path = path / "mixture.json"
    if not path.exists():
        raise MixtureError(f"{path} does not exist; run a pipeline whose config ends with a `mix` stage first")
    try:
        raw = json.loads(path.read_text())
    except ValueError as e:
        raise MixtureError(f"{path} is not valid JSON ({e}); rerun the `mix` stage to rewrite it") from None
    spec = MixtureSpec.from_json(raw, str(path))
    base = path.parent
    domains = {}
    for name, e in spec.domains.items():
        d = Domain(name=name, files=[base / f for f in e.files], tokens=e.tokens, weight=e.weight,
                   heldout_files=[base / f for f in e.heldout_files], heldout_tokens=int(e.heldout_tokens),
                   epochs=e.epochs, docs=int(e.docs))
        for f in d.files + d.heldout_files:
            if not f.exists():
                raise MixtureError(f"{path}: shard {f} of domain {name!r} is missing; rerun the `mix` stage")
        domains[name] = d
    return Mixture(path=path, spec=spec, domains=domains)


def open_shards(files: list[Path], dtype: str) -> list[np.ndarray]:
    """Read-only memmaps; empty files are skipped (np.memmap refuses zero-length files)."""
    return [np.memmap(f, dtype=DTYPES[dtype], mode="r") for f in files if f.stat().st_size > 0]
