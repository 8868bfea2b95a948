"""`gristmill train-domain`: train a fastText domain classifier from labelled documents (jsonl or Parquet)."""
from __future__ import annotations

import gzip
import json
import random
import sys
import tempfile
from pathlib import Path

from gristmill.pipeline.stage import StageError

HELP = "train a fastText domain classifier for the `domain` stage (from: fasttext)"


def add_arguments(p):
    p.add_argument("inputs", nargs="+", help="jsonl(.gz) or Parquet files with a text and a label field")
    p.add_argument("-o", "--output", required=True, help="model file to write (.bin)")
    p.add_argument("--label-field", default="domain", help="field holding the domain (default: domain)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="held out to report precision")
    p.add_argument("--epoch", type=int, default=25)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--max-chars", type=int, default=4000, help="characters of each document used")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")


def read_labelled(paths: list[str], text_field: str, label_field: str) -> list[tuple[str, str]]:
    rows = []
    for path in paths:
        p = Path(path)
        if not p.exists():
            raise StageError(f"train-domain: input {p} does not exist")
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq
            t = pq.read_table(p, columns=[text_field, label_field]).to_pylist()
            items = enumerate(t, 1)
        else:
            opener = gzip.open if p.name.endswith(".gz") else open
            with opener(p, "rt", encoding="utf-8") as fh:
                items = list(enumerate((json.loads(line) for line in fh if line.strip()), 1))
        for i, obj in items:
            text, label = obj.get(text_field), obj.get(label_field)
            if not isinstance(label, str) or not label.strip():
                raise StageError(f"{p} row {i}: no {label_field!r}; every training row needs a domain label")
            rows.append((" ".join(label.split()), text or ""))
    if len({lab for lab, _ in rows}) < 2:
        raise StageError("train-domain needs at least two different domains in the inputs")
    return rows


def _write(rows, path: Path, max_chars: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for label, text in rows:
            fh.write(f"__label__{label.replace(' ', '_')} {' '.join(text[:max_chars].split())}\n")


def train_domain_classifier(rows: list[tuple[str, str]], output: Path, *, valid_fraction=0.1, epoch=25,
                            lr=0.5, dim=64, word_ngrams=2, max_chars=4000, seed=0) -> dict:
    import fasttext
    if not hasattr(fasttext, "train_supervised"):
        raise StageError("the installed `fasttext` module can only predict (fasttext-predict); "
                         "`pip install fasttext-numpy2-wheel` to train")
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    n_valid = int(len(rows) * valid_fraction)
    valid, train = rows[:n_valid], rows[n_valid:]
    with tempfile.TemporaryDirectory() as tmp:
        train_file, valid_file = Path(tmp) / "train.txt", Path(tmp) / "valid.txt"
        _write(train, train_file, max_chars)
        model = fasttext.train_supervised(str(train_file), epoch=epoch, lr=lr, dim=dim, wordNgrams=word_ngrams,
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
    metrics = train_domain_classifier(rows, Path(args.output), valid_fraction=args.valid_fraction,
                                      epoch=args.epoch, lr=args.lr, dim=args.dim, word_ngrams=args.word_ngrams,
                                      max_chars=args.max_chars, seed=args.seed)
    if not args.quiet:
        print(json.dumps({"model": args.output, **metrics}, indent=2), file=sys.stderr)
    return 0
