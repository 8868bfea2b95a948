"""Quality signals against human labels: DCLM's 499 web documents (272 high / 227 low quality).

- fastText classifier (the train-quality code) with k-fold cross-validation: every document is scored
  by a model that never saw it. Training data is these 499 labelled documents only (no other source).
- The heuristic rule sets: precision/recall of "kept" as a high-quality prediction.

    .venv/bin/python benchmarks/eval_quality.py [--folds 5]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, markdown_table, publish, read_jsonl  # noqa: E402

from gristmill.pipeline.cli.train_quality import precision_recall, train  # noqa: E402
from gristmill.stages.quality.classifier import NEGATIVE, POSITIVE, scores  # noqa: E402
from gristmill.stages.quality.stage import QualityConfig, QualityScorer  # noqa: E402


def main(argv=None) -> int:
    from sklearn.metrics import roc_auc_score
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = read_jsonl(SHARED / "quality" / "dclm_human_quality_labels_499.jsonl.gz")
    docs = [(POSITIVE if r["label"] == 1 else NEGATIVE, r["text"], r["unanimous"]) for r in rows]
    order = list(range(len(docs)))
    random.Random(args.seed).shuffle(order)
    probs = [0.0] * len(docs)
    with tempfile.TemporaryDirectory() as tmp:
        for f in range(args.folds):
            test = set(order[f::args.folds])
            model = train([(y, t) for i, (y, t, _) in enumerate(docs) if i not in test], Path(tmp) / "m.bin",
                          seed=args.seed)
            idx = sorted(test)
            for i, p in zip(idx, scores(model, [docs[i][1] for i in idx])):
                probs[i] = p
    labels = [y for y, _, _ in docs]
    truth = [y == POSITIVE for y in labels]
    table = []
    for name, sel in (("all 499", lambda d: True), ("unanimous 281", lambda d: d[2])):
        keep = [i for i, d in enumerate(docs) if sel(d)]
        m = precision_recall([labels[i] for i in keep], [probs[i] for i in keep])
        auc = roc_auc_score([truth[i] for i in keep], [probs[i] for i in keep])
        table.append([f"fastText {args.folds}-fold CV", name, m["precision"], m["recall"], auc])
    _, reasons = QualityScorer(QualityConfig()).score([t for _, t, _ in docs])
    for name, sel in (("all 499", lambda d: True), ("unanimous 281", lambda d: d[2])):
        keep = [i for i, d in enumerate(docs) if sel(d)]
        kept = [1.0 if reasons[i] is None else 0.0 for i in keep]
        m = precision_recall([labels[i] for i in keep], kept)
        auc = roc_auc_score([truth[i] for i in keep], kept)
        table.append(["heuristics kept (gopher+c4+fineweb)", name, m["precision"], m["recall"], auc])
    base = sum(truth) / len(truth)
    text = (markdown_table(["predictor", "documents", "precision", "recall", "AUC"], table)
            + f"\n\nBase rate of high quality: {base:.3f}. Classifier threshold 0.5; the heuristics' AUC is "
              "that of a binary keep/drop decision.")
    publish("eval_quality", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
