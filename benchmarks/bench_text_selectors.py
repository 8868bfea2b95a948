"""Target-aware text selectors on the 11-domain mix (shared/data/domains): with a 20-document target drawn
from one domain, which share of the selected documents come from that domain (precision), for DSIR as
published (Xie et al. 2023: 10,000 hashed unigram+bigram buckets, unsmoothed estimates, 128-word units, a
100-word minimum, Gumbel top-k) and ZIP-FIT (gzip NCD), against a uniform random pick (the domain's share).

Every domain with at least 60 documents is a target in turn: its first 20 documents are the target and leave
the pool; the pool is every other document of the mix (all 11 domains); the budget is 40. DSIR draws, so its
row is the median of seeds 0, 1, 2; ZIP-FIT is deterministic.

    .venv/bin/python benchmarks/bench_text_selectors.py      # writes benchmarks/results/selectors_text.md
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import SHARED, load_now, markdown_table, publish, read_jsonl  # noqa: E402

from gristmill.selectors.base import get_selector  # noqa: E402

TARGET, BUDGET, MIN_DOCS = 20, 40, 60


def precision_table() -> tuple[str, list[list]]:
    rows = read_jsonl(SHARED / "domains" / "domain_mix.jsonl.gz")
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r["domain"], []).append(r["text"])
    out, t_dsir, t_zip = [], 0.0, 0.0
    for want in sorted(d for d in by if len(by[d]) >= MIN_DOCS):
        pool, labels = [], []
        for d in sorted(by):
            docs = by[d][TARGET:] if d == want else by[d]
            pool += docs
            labels += [d] * len(docs)
        labels = np.array(labels)
        target = by[want][:TARGET]
        t0 = time.perf_counter()
        dsir = [float(np.mean(labels[get_selector("dsir", seed=s).select(pool, BUDGET, target=target).indices] == want))
                for s in range(3)]
        t_dsir += time.perf_counter() - t0
        t0 = time.perf_counter()
        zf = float(np.mean(labels[get_selector("zipfit").select(pool, BUDGET, target=target).indices] == want))
        t_zip += time.perf_counter() - t0
        out.append([want, int((labels == want).sum()), len(pool), float(np.mean(labels == want)),
                    float(np.median(dsir)), f"{min(dsir):.3f}-{max(dsir):.3f}", zf])
    mean = ["mean", "", "", float(np.mean([r[3] for r in out])), float(np.mean([r[4] for r in out])), "",
            float(np.mean([r[6] for r in out]))]
    head = (f"Target-aware text selectors on the 11-domain mix ({len(rows):,} real documents, shared/data/domains): "
            f"a {TARGET}-document target from one domain, a budget of {BUDGET} from the rest of the mix; precision = "
            f"share of the picks from the target's domain. DSIR as published (10,000 buckets, unsmoothed, 128-word "
            f"units, 100-word minimum, Gumbel top-k; median of seeds 0-2, min-max shown) took {t_dsir / 3:.1f} s per "
            f"seed for all domains, ZIP-FIT {t_zip:.1f} s. Load at the end: {load_now()}.\n\n")
    return head + markdown_table(["target domain", "its docs in the pool", "pool", "random (its share)",
                                  "DSIR precision", "DSIR seeds min-max", "ZIP-FIT precision"], out + [mean]), out


if __name__ == "__main__":
    publish("selectors_text", precision_table()[0])
