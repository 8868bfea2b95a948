"""Where partitioned facility location loses objective at scale: the budget split or the cut edges?

On n real passages (TF-IDF + TruncatedSVD vectors, passages.cheap_embeddings: labelled, not MiniLM's), k=10:
1. exact: lazy greedy on the exact global kNN graph W (FAISS flat), the reference;
2. default: FacilityLocation() (per-partition graphs, gain allocation), objective evaluated on W;
3. exact's split: the default's partitions and graphs, each partition given exactly as many picks as exact
   greedy took there (if this recovers the objective, the budget split is what loses it);
4. cut edges only: global greedy on W with every edge between partitions removed (no split at all; if this
   loses as much as the default, the cut edges are what loses it);
5. GreeDi: the default's partitions oversampled (pool x share each), then a second lazy greedy round over the
   union of their picks with gains on a global approximate (IVF) kNN graph.

    .venv/bin/python benchmarks/fl_diagnose.py --n 100000
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import load_now, markdown_table, publish  # noqa: E402
from passages import cheap_embeddings  # noqa: E402

from gristmill.selectors.facility_location import (  # noqa: E402
    FacilityLocation,
    blockwise_greedy,
    knn_edges,
    knn_graph,
    lazy_greedy,
    replay,
)
from gristmill.selectors.knn import knn  # noqa: E402

NOTES = """Not measured this session: 100k and 1M passages (a shared machine at load 18-20 on 2 cores: the cheap
vectors of 100k alone did not finish in 5 minutes), MiniLM vectors at scale (no cached vectors, no GPU lent), the
Spark path at scale. The Spark path's agreement with the one-process path is checked by the tests
(tests/selectors/test_spark_select.py: the same picks, gains and weights for the default, partition_size 500 and
proportional allocation on 3,000 vectors; the merge round runs in one process only). Target-aware text
selectors: selectors_text.md."""


def partitions(fl, X, b):
    p = fl.n_partitions(len(X), b)
    members, _ = fl._kmeans_partitions(X, np.arange(len(X)), p, target=math.ceil(len(X) / p))
    return members


def block_graph(X, members, k):
    from scipy import sparse
    n = len(X)
    order = np.concatenate(members)
    sizes = np.array([len(m) for m in members])
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, vals = [], [], []
    for c, m in enumerate(members):
        r, q, v = knn_edges(*knn(np.ascontiguousarray(X[m]), k, index="flat"))
        rows.append(r + bounds[c])
        cols.append(q + bounds[c])
        vals.append(v)
    Wb = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    return Wb, order, bounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--budgets", default="0.05,0.1,0.3")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--pool", type=float, default=2.0)
    args = ap.parse_args()
    import faiss
    faiss.omp_set_num_threads(1)
    _, X = cheap_embeddings(args.n)
    n, k = len(X), args.k
    t0 = time.perf_counter()
    W = knn_graph(X, k, index="flat")
    t_flat = time.perf_counter() - t0
    print(f"exact graph {t_flat:.1f}s", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    Wivf = knn_graph(X, k, index="ivf")
    t_ivf = time.perf_counter() - t0
    print(f"ivf graph {t_ivf:.1f}s", file=sys.stderr, flush=True)
    rows = []
    for frac in [float(f) for f in args.budgets.split(",")]:
        b = int(frac * n)
        t0 = time.perf_counter()
        exact, g = lazy_greedy(W, b)
        t_exact = t_flat + time.perf_counter() - t0
        ref = float(g.sum())
        rows.append([f"{frac:.0%}", "exact lazy greedy, flat graph", f"{t_exact:.1f}", 1.0, 1.0])
        fl = FacilityLocation(seed=0, graphs="partition")
        t0 = time.perf_counter()
        sel = fl.select(X, b)
        t_def = time.perf_counter() - t0
        rows.append([f"{frac:.0%}", f"default ({sel.diagnostics['partitions']} partitions)", f"{t_def:.1f}",
                     replay(W, sel.indices).sum() / ref, t_exact / t_def])
        members = partitions(fl, X, b)
        Wb, order, bounds = block_graph(X, members, k)
        label = np.empty(n, np.int64)
        for c, m in enumerate(members):
            label[m] = c
        share = np.bincount(label[exact], minlength=len(members))
        picks = np.concatenate([order[p] for p, _ in blockwise_greedy(Wb, bounds, share)])
        rows.append([f"{frac:.0%}", "same partitions, exact greedy's count in each", "-",
                     replay(W, picks).sum() / ref, "-"])
        C = W.tocoo()
        keep = label[C.row] == label[C.col]
        from scipy import sparse
        Win = sparse.csc_matrix((C.data[keep], (C.row[keep], C.col[keep])), shape=W.shape)
        cut, _ = lazy_greedy(Win, b)
        rows.append([f"{frac:.0%}", f"global greedy on W without cut edges ({1 - keep.mean():.1%} cut)", "-",
                     replay(W, cut).sum() / ref, "-"])
        t0 = time.perf_counter()
        greedi = FacilityLocation(seed=0, graphs="partition", merge=True, merge_graph="global",
                                  merge_factor=args.pool).select(X, b).indices
        t_greedi = time.perf_counter() - t0
        rows.append([f"{frac:.0%}", f"GreeDi: pool {args.pool:g}x, 2nd round on global IVF graph",
                     f"{t_greedi:.1f}", replay(W, greedi).sum() / ref, t_exact / t_greedi])
        t0 = time.perf_counter()
        full, _ = lazy_greedy(Wivf, b)
        t_full = t_ivf + time.perf_counter() - t0
        rows.append([f"{frac:.0%}", "exact lazy greedy on the global IVF graph", f"{t_full:.1f}",
                     replay(W, full).sum() / ref, t_exact / t_full])
        print(markdown_table(["budget", "method", "seconds", "objective / exact", "speedup"], rows[-6:]),
              file=sys.stderr, flush=True)
    head = (f"Facility location at n={n:,} distinct real passages (benchmarks/passages.py), embedded CHEAPLY: TF-IDF "
            f"of hashed unigrams + bigrams reduced to 384-d by TruncatedSVD (passages.cheap_embeddings), NOT MiniLM "
            f"(MiniLM runs ~20 docs/s on this CPU). k={k}, FAISS 1 thread, one run each on a shared 2-core machine "
            f"(load {load_now()}). Exact = lazy greedy on the exact (flat) global kNN graph ({t_flat:.1f} s to build; "
            f"the IVF graph took {t_ivf:.1f} s). Every objective is evaluated on the flat graph. 'speedup' = exact's "
            f"end-to-end seconds / the row's.\n\n")
    publish("selectors", head + markdown_table(["budget", "method", "seconds", "objective / exact (flat graph)",
                                                "speedup"], rows) + "\n\n" + NOTES)


if __name__ == "__main__":
    main()
