"""`gristmill export megatron RUN --out DIR`: a run's mixture in another trainer's data format."""
from __future__ import annotations

import json
from pathlib import Path

HELP = "write a run's mixture for another trainer: megatron (.bin/.idx per domain + the --data-path blend line)"


def add_arguments(p):
    p.add_argument("format", choices=["megatron"], help="megatron: Megatron-LM indexed datasets")
    p.add_argument("run", help="run folder holding mixture.json (or the mixture.json itself)")
    p.add_argument("--out", required=True, help="folder for the .bin/.idx pairs, blend.txt and export.json")
    p.add_argument("--tokenizer", help="a Hugging Face tokenizer.json (or its folder) to re-tokenize with; "
                                       "default: the mixture's own token ids")


def main(args) -> int:
    from gristmill.pipeline.stage import StageError

    from ...trainer_hooks.megatron import export_megatron
    from ...trainer_hooks.mixture import MixtureError
    try:
        summary = export_megatron(Path(args.run), args.out, args.tokenizer)
    except MixtureError as e:
        raise StageError(f"export {args.format}: {e}") from None
    print(json.dumps({d: {k: v for k, v in e.items() if k != "weight"} for d, e in summary["domains"].items()},
                     indent=2))
    print(f"blend for Megatron-LM (also in {Path(args.out) / 'blend.txt'}):\n--data-path {summary['data_path']}")
    return 0
