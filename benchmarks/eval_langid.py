"""Language ID accuracy on real labelled text: raw fastText vs the `langid` stage's code path.

UDHR paragraphs (kind=="paragraph", stage>=4; ISO 639-3 labels; "plain": declarations without a
script/variant subtag or a qualified name) and Leipzig sentences (kind=="sentences";
ISO 639-1). Accuracy is over the languages the model covers (see gristmill.stages.langid.codes); the rest are
listed. The stage path is LangId.process_batch on Arrow batches, the exact code Spark workers run.

    .venv/bin/python benchmarks/eval_langid.py [--model PATH] [--per-language]
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, markdown_table, publish, read_jsonl  # noqa: E402

from gristmill.stages.fasttext_model import default_lid_model, load_fasttext, predict  # noqa: E402
from gristmill.stages.langid.codes import lid176_label  # noqa: E402
from gristmill.stages.langid.stage import LangId, LangIdConfig  # noqa: E402


def load_sets() -> dict[str, list[tuple[str, str]]]:
    """name -> [(iso code, text)]"""
    udhr_rows = [d for d in read_jsonl(SHARED / "lid" / "udhr_532_declarations_paragraphs.jsonl.gz")
                 if d["kind"] == "paragraph" and d["stage"] >= 4]
    udhr = [(d["iso639_3"], d["text"]) for d in udhr_rows]
    # Many codes also carry other scripts, spellings or dialects (Vietnamese in Han nom, Malay in Jawi,
    # "French (Welche)"): a model trained on Wikipedia-style text is not expected to know those.
    plain = [(d["iso639_3"], d["text"]) for d in udhr_rows if "-" not in d["bcp47"] and "(" not in d["language_name"]]
    leipzig_rows = read_jsonl(SHARED / "lid" / "leipzig_lingua_testdata_75langs.jsonl.gz")
    leipzig = [(d["iso639_1"], d["text"]) for d in leipzig_rows if d["kind"] == "sentences"]
    return {"udhr_paragraphs": udhr, "udhr_paragraphs_plain": plain, "leipzig_sentences": leipzig}


def raw_predictions(model, texts: list[str]) -> list[str]:
    # What a user calling fastText by hand does: newlines to spaces, whole text, top-1.
    labels, _ = predict(model, [t.replace("\n", " ") for t in texts])
    return [row[0] for row in labels]


def stage_predictions(cfg: LangIdConfig, texts: list[str], batch_rows: int = 4096) -> list[str]:
    stage = LangId(cfg)
    stage.setup()
    out = []
    for start in range(0, len(texts), batch_rows):
        part = texts[start:start + batch_rows]
        batch = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(part))], "text": part})
        out += stage.process_batch(batch).column("lang").to_pylist()
    return out


def score(items, preds, labels: set[str]):
    per = defaultdict(lambda: [0, 0])
    uncovered = set()
    for (code, _), pred in zip(items, preds):
        want = lid176_label(code, labels)
        if want is None:
            uncovered.add(code)
            continue
        per[code][0] += pred == want
        per[code][1] += 1
    hit = sum(v[0] for v in per.values())
    total = sum(v[1] for v in per.values())
    macro = sum(v[0] / v[1] for v in per.values()) / max(len(per), 1)
    return hit / max(total, 1), macro, total, per, sorted(uncovered)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="fastText LID model (default lid.176.ftz)")
    ap.add_argument("--per-language", action="store_true", help="also print per-language accuracy")
    args = ap.parse_args(argv)
    path = args.model or default_lid_model()
    model = load_fasttext(path, "langid model")
    labels = {lab.replace("__label__", "") for lab in model.get_labels()}
    configs = {"stage prefix (default)": LangIdConfig(model_path=str(path)),
               "stage chunks": LangIdConfig(model_path=str(path), mode="chunks")}
    rows, per_lang_rows, notes = [], [], []
    for name, items in load_sets().items():
        texts = [t for _, t in items]
        results = {"raw fasttext.predict": raw_predictions(model, texts)}
        for label, cfg in configs.items():
            results[label] = stage_predictions(cfg, texts)
        per_by_path = {}
        for path_name, preds in results.items():
            micro, macro, total, per, uncovered = score(items, preds, labels)
            per_by_path[path_name] = per
            rows.append([name, path_name, total, len(per), micro, macro])
        notes.append(f"{name}: {len(uncovered)} codes not covered by the model: {' '.join(uncovered)}")
        raw, stage = per_by_path["raw fasttext.predict"], per_by_path["stage prefix (default)"]
        for code in sorted(raw):
            per_lang_rows.append([name, code, raw[code][1], raw[code][0] / raw[code][1],
                                  stage[code][0] / stage[code][1]])
    table = markdown_table(["set", "path", "texts (covered)", "languages", "accuracy", "macro accuracy"], rows)
    per_table = markdown_table(["set", "code", "texts", "raw acc", "stage acc"], per_lang_rows)
    text = table + "\n\n" + "\n".join(f"- {n}" for n in notes)
    publish("eval_langid", text + "\n\n## Per language\n\n" + per_table)
    if args.per_language:
        print(per_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
