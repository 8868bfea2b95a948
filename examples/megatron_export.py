"""A gristmill mixture as Megatron-LM data: export, read back with megatron-core, print the blend.

    python examples/megatron_export.py --mixture runs/mix-demo --out runs/mix-demo/megatron

Runs `gristmill export megatron` (one .bin/.idx pair per domain and blend.txt), then opens every pair with
megatron-core's own IndexedDataset (`pip install megatron-core`; it runs on CPU) and checks that its documents
are the mixture's, token for token. Then pass the printed line to Megatron-LM's pretrain_gpt.py, e.g.

    torchrun ... pretrain_gpt.py $(cat runs/mix-demo/megatron/blend.txt) --tokenizer-type ...
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gristmill.pipeline.cli import main as gristmill
from gristmill.trainer_hooks.megatron import documents
from gristmill.trainer_hooks.mixture import load_mixture


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mixture", default="runs/mix-demo")
    p.add_argument("--out", default="runs/mix-demo/megatron")
    a = p.parse_args(argv)
    if gristmill(["export", "megatron", a.mixture, "--out", a.out]) != 0:
        return 1
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    mixture = load_mixture(a.mixture)
    summary = json.loads((Path(a.out) / "export.json").read_text())
    eos = int(mixture.tokenizer.get("eos_id", 0))
    for name, entry in summary["domains"].items():
        ds = IndexedDataset(entry["train"]["prefix"])
        ours = list(documents(mixture.domains[name].files, mixture.dtype, eos))
        same = len(ds) == len(ours) and all((ds[i] == d).all() for i, d in enumerate(ours))
        print(f"{name:>24}: {len(ds):,} documents, {entry['train']['tokens']:,} tokens, weight {entry['weight']:.3f}"
              f"  {'identical' if same else 'DIFFERENT'}")
        if not same:
            return 1
    print((Path(a.out) / "blend.txt").read_text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
