"""Quality of near-duplicate pair detection: gristmill dedup_minhash vs datatrove's MinHash pipeline.

Same shingles (word 5-grams), 14 bands x 8 rows. Predicted pairs are the pairs inside each output cluster.
Gold: Clough-Stevenson (answers marked cut/light vs their source), bib_dedupe (human clusters), and a
synthetic set of real web docs with edited copies, where gold is exact word-5-gram Jaccard >= 0.8.
text-dedup 0.4.0 is not compared: installing it into the shared venv would downgrade urllib3 to 1.26
and pull about 35 packages (onnxruntime, unisim, sphinx), so it was left out.

    .venv/bin/python benchmarks/eval_dedup.py [--copies 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dedup_gold as g
from harness import markdown_table, publish


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=3, help="edited copies per real doc in the synthetic set")
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args()
    syn = g.synthetic(args.copies)
    syn_gold, _ = g.true_pairs(syn, args.threshold)
    sets = {"clough_stevenson (cut+light)": g.clough(), "bib_dedupe": g.bib(), "synthetic-from-web": (syn, syn_gold)}
    systems = {
        f"gristmill (exact Jaccard >= {args.threshold}, default)":
            lambda d, w: g.run_gristmill(d, w, {"threshold": args.threshold})[0],
        f"gristmill (signature estimate >= {args.threshold})":
            lambda d, w: g.run_gristmill(d, w, {"threshold": args.threshold, "verify": "signature"})[0],
        "gristmill (LSH only)": lambda d, w: g.run_gristmill(d, w, {"threshold": None})[0],
        "datatrove 0.10 MinHash": lambda d, w: g.run_datatrove(d, w),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, (docs, gold) in sets.items():
            folder = g.write_shards(docs, Path(tmp) / "in")
            for sys_name, run in systems.items():
                t0 = time.perf_counter()
                pairs = g.cluster_pairs(run(folder, Path(tmp) / "work"))
                p, r, f = g.prf(pairs, gold)
                rows.append([set_name, len(docs), len(gold), sys_name, len(pairs), p, r, f,
                             time.perf_counter() - t0])
    table = markdown_table(["set", "docs", "gold pairs", "system", "predicted pairs", "precision", "recall", "F1",
                            "seconds"], rows)
    note = ("\n\nGold for synthetic-from-web: exact word-5-gram Jaccard >= "
            f"{args.threshold} over every pair sharing a shingle. Clough and bib gold are human labels, "
            "so a Jaccard-0.8 detector is not expected to find light rewrites or reformatted records.")
    publish("eval_dedup", table + note)


if __name__ == "__main__":
    main()
