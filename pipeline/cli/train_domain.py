"""`gristmill train-domain`: train a fastText domain classifier from labelled documents (jsonl or Parquet)."""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from ...stages.fasttext_model import require_training_api
from ..inputs.examples import read_labelled

HELP = "train a fastText domain classifier for the `domain` stage (from: fasttext)"


def add_arguments(p):
    p.add_argument("inputs", nargs="+", help="jsonl(.gz) or Parquet files with a text and a label field")
    p.add_argument("-o", "--output", required=True, help="model file to write (.bin)")
    p.add_argument("--label-field", default="domain", help="field holding the domain (default: domain)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--holdout", type=float, default=0.1, help="fraction held out to report accuracy")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--valid-fraction", type=float, dest="holdout", action=Deprecated, help=argparse.SUPPRESS)
    p.add_argument("--epoch", type=int, dest="epochs", action=Deprecated, help=argparse.SUPPRESS)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--max-chars", type=int, default=4000, help="characters of each document used")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")


class Deprecated(argparse.Action):
    """An old flag name kept for one release: sets the new option and says so on stderr."""

    def __call__(self, parser, namespace, values, option_string=None):
        new = "--" + self.dest.replace("_", "-")
        print(f"train-domain: {option_string} is deprecated and will be removed in the next release; "
              f"use {new} (the same flag as train-quality)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _write(rows, path: Path, max_chars: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for label, text in rows:
            fh.write(f"__label__{label.replace(' ', '_')} {' '.join(text[:max_chars].split())}\n")


def train_domain_classifier(rows: list[tuple[str, str]], output: Path, *, holdout=0.1, epochs=25,
                            lr=0.5, dim=64, word_ngrams=2, max_chars=4000, seed=0) -> dict:
    fasttext = require_training_api()
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    n_valid = int(len(rows) * holdout)
    valid, train = rows[:n_valid], rows[n_valid:]
    with tempfile.TemporaryDirectory() as tmp:
        train_file, valid_file = Path(tmp) / "train.txt", Path(tmp) / "valid.txt"
        _write(train, train_file, max_chars)
        model = fasttext.train_supervised(str(train_file), epoch=epochs, lr=lr, dim=dim, wordNgrams=word_ngrams,
                                          minCount=1, verbose=0, seed=seed, thread=1)
        metrics = {"train_docs": len(train), "valid_docs": len(valid)}
        if valid:
            _write(valid, valid_file, max_chars)
            n, precision, _ = model.test(str(valid_file))
            metrics["valid_accuracy"] = round(float(precision), 4)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(output))
    metrics["labels"] = sorted(lab.replace("__label__", "") for lab in model.get_labels())
    return metrics


def main(args) -> int:
    rows = read_labelled(args.inputs, args.text_field, args.label_field)
    metrics = train_domain_classifier(rows, Path(args.output), holdout=args.holdout,
                                      epochs=args.epochs, lr=args.lr, dim=args.dim, word_ngrams=args.word_ngrams,
                                      max_chars=args.max_chars, seed=args.seed)
    if not args.quiet:
        print(json.dumps({"model": args.output, **metrics}, indent=2), file=sys.stderr)
    return 0
