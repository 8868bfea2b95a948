"""gristmill train-quality: train a fastText quality classifier from positive and negative documents."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path

from gristmill.pipeline.stage import StageError

from ...stages.fasttext_model import require_training_api
from ...stages.quality.classifier import NEGATIVE, POSITIVE, prepare, scores
from ..inputs.examples import read_texts

HELP = "train a fastText quality classifier (positive vs negative documents) for the quality stage"


def add_arguments(p) -> None:
    p.add_argument("--positive", required=True, nargs="+",
                   help="jsonl(.gz), Parquet or .txt (one per line) files of good documents")
    p.add_argument("--negative", required=True, nargs="+",
                   help="jsonl(.gz), Parquet or .txt (one per line) files of bad documents")
    p.add_argument("-o", "--output", required=True, help="where to write the model (.bin)")
    p.add_argument("--text-field", default="text", help="jsonl field holding the text")
    p.add_argument("--holdout", type=float, default=0.1, help="fraction held out for precision/recall")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--max-chars", type=int, default=20_000, help="characters of each document used")
    p.add_argument("--seed", type=int, default=0)


def split(docs: list[tuple[str, str]], holdout: float, seed: int):
    rng = random.Random(seed)
    docs = docs[:]
    rng.shuffle(docs)
    k = int(round(len(docs) * holdout))
    return docs[k:], docs[:k]


def train(train_docs: list[tuple[str, str]], output: str | Path, *, epochs=25, lr=0.5, word_ngrams=2, dim=64,
          max_chars=20_000, seed=0):
    """Train on (label, text) pairs; returns the fastText model (also saved at `output`)."""
    fasttext = require_training_api()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        for label, text in train_docs:
            fh.write(f"__label__{label} {prepare(text, max_chars)}\n")
        path = fh.name
    try:
        model = fasttext.train_supervised(input=path, epoch=epochs, lr=lr, wordNgrams=word_ngrams, dim=dim,
                                          minCount=1, seed=seed, thread=1, verbose=0)
    except RuntimeError as e:  # fastText diverges ("Encountered NaN") when lr is too high for the data
        raise StageError(f"fastText training failed ({e}); try a lower --lr or fewer --epochs") from None
    finally:
        Path(path).unlink(missing_ok=True)
    model.save_model(str(output))
    return model


def precision_recall(labels: list[str], probs: list[float], threshold: float = 0.5) -> dict:
    tp = sum(1 for y, p in zip(labels, probs) if p >= threshold and y == POSITIVE)
    fp = sum(1 for y, p in zip(labels, probs) if p >= threshold and y != POSITIVE)
    fn = sum(1 for y, p in zip(labels, probs) if p < threshold and y == POSITIVE)
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "n": len(labels)}


def main(args) -> int:
    pos = [t for p in args.positive for t in read_texts(p, args.text_field)]
    neg = [t for p in args.negative for t in read_texts(p, args.text_field)]
    if not pos or not neg:
        raise StageError(f"need documents on both sides; got {len(pos)} positive and {len(neg)} negative")
    docs = [(POSITIVE, t) for t in pos] + [(NEGATIVE, t) for t in neg]
    train_docs, held = split(docs, args.holdout, args.seed)
    model = train(train_docs, args.output, epochs=args.epochs, lr=args.lr, word_ngrams=args.word_ngrams,
                  dim=args.dim, max_chars=args.max_chars, seed=args.seed)
    print(f"trained on {len(train_docs)} documents ({len(pos)} positive, {len(neg)} negative in all); "
          f"model written to {args.output}")
    if held:
        probs = scores(model, [t for _, t in held], POSITIVE, args.max_chars)
        m = precision_recall([y for y, _ in held], probs)
        print(f"held-out ({m['n']} documents, threshold 0.5): precision {m['precision']:.3f}  "
              f"recall {m['recall']:.3f}")
    return 0
