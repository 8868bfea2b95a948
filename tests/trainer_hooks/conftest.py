"""Fixtures for the trainer-hook tests: mixtures built from token arrays through the one mixture writer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gristmill.trainer_hooks.mixture import DomainEntry, MixtureSpec, save_mixture


def build_mixture(folder, domains: dict, vocab_size: int, weights: dict | None = None,
                  max_epochs: float | None = None) -> Path:
    """{domain: (train_ids, heldout_ids)} -> shards + mixture.json (weights default to natural)."""
    folder = Path(folder)
    dtype = "uint16" if vocab_size <= 65535 else "uint32"
    total = sum(len(t) for t, _ in domains.values())
    entries = {}
    for name, (train_ids, held_ids) in domains.items():
        files = {}
        for split, ids in (("train", train_ids), ("heldout", held_ids)):
            files[split] = []
            if len(ids):
                rel = f"shards/{split}/{name}.bin"
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                np.asarray(ids, dtype=dtype).tofile(folder / rel)
                files[split].append(rel)
        w = weights.get(name, 0.0) if weights else len(train_ids) / total
        entries[name] = DomainEntry(files=files["train"], tokens=len(train_ids), weight=float(w),
                                    epochs=w * total / len(train_ids) if len(train_ids) else 0.0,
                                    heldout_files=files["heldout"], heldout_tokens=len(held_ids))
    spec = MixtureSpec(dtype=dtype, tokenizer={"path": None, "vocab_size": vocab_size, "eos_id": 0},
                       budget_tokens=total, domains=entries, max_epochs=max_epochs)
    return save_mixture(spec, folder / "mixture.json")


@pytest.fixture(scope="session")
def make_mixture():
    return build_mixture
