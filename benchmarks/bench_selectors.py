"""Selector benchmarks on real embeddings only (CPU).

1. Facility location, end to end (kNN graph + selection), at budgets 5%, 10% and 30%: the reference is exact
   greedy on one exact (FAISS flat) global kNN graph, timed with the faster of lazy greedy (Minoux) and
   gristmill's batched exact greedy (the same picks); gristmill's default (graphs: probed) builds an approximate
   global kNN graph from inverted lists and runs exact greedy on it; INGENIOUS's partitioned mode (graphs:
   partition) is shown beside it; apricot-select runs lazy greedy on the same precomputed exact graph, oriented
   as its docs ask (row j of the matrix = the similarities of candidate j to every point: our CSC graph
   transposed, W.T). Every method's objective is evaluated on the exact global graph. The Spark path
   (spark_select.facility_location, real local[2] SparkSession) runs the default on the first --spark-n
   vectors, and its picks are compared with the one-process picks.
2. SemDeDup / D4: fraction removed vs eps, and recall of planted semantic duplicates (real passages edited
   and re-embedded, so the duplicates are real model outputs, not vector noise).

The vectors are distinct real passages (benchmarks/passages.py: the quickstart corpus, the standard
library's docstrings and function sources, the real sets in shared/data), embedded once with gristmill's
embedder (all-MiniLM-L6-v2, 128-token window) and cached under benchmarks/cache/. No vector is synthetic.

    .venv/bin/python benchmarks/bench_selectors.py --n 100000      # --n: the first n passages
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, RESULTS, load_now, markdown_table, median3, parity, publish, spread, timed, write_claims  # noqa: E402
from passages import cached_count, cheap_embeddings, embeddings  # noqa: E402

from gristmill.selectors.d4 import D4  # noqa: E402
from gristmill.selectors.embed import Embedder, EmbedSettings  # noqa: E402
from gristmill.selectors.facility_location import (  # noqa: E402
    FacilityLocation,
    batched_greedy,
    knn_graph,
    lazy_greedy,
    replay,
)
from gristmill.selectors.semdedup import SemDeDup  # noqa: E402

# the objective and time rows compare the default with exact greedy on the exact graph: the graph differs by design
APPROX = parity(steps="the approximation under test: the probed kNN graph vs the exact flat graph, same vectors")
GOAL_RATIO, GOAL_SPEEDUP = 0.98, 20.0


def apricot_fl(W, budget: int):
    """apricot's lazy greedy on a precomputed sparse similarity. apricot scores candidate j by row j of the
    matrix it is given; our graph keeps candidate j's coverage in column j, so it gets W.T."""
    try:
        from apricot import FacilityLocationSelection
    except ImportError:
        return None
    sel = FacilityLocationSelection(budget, metric="precomputed", optimizer="lazy", verbose=False)
    t0 = time.perf_counter()
    sel.fit(W.T.tocsr())
    return np.asarray(sel.ranking), time.perf_counter() - t0


def bench_facility_location(X: np.ndarray, fracs: list[float], k: int, threads: int, repeats: int,
                            variants: list[tuple[str, dict]], apricot: bool,
                            vectors: str = "embeddings of gristmill's embedder") -> tuple[str, list[dict]]:
    n = len(X)
    load0 = load_now()
    with timed() as tg:
        W = knn_graph(X, k, index="flat")
    t_graph = tg["seconds"]
    rows, claims = [], []
    for frac in fracs:
        b = int(frac * n)
        with timed() as te:
            exact, gains = lazy_greedy(W, b)
        with timed() as tb:
            batched, bgains = batched_greedy(W, b)
        ref = float(gains.sum())
        t_sel = min(te["seconds"], tb["seconds"])
        t_exact = t_graph + t_sel
        rows.append([f"{frac:.0%}", f"exact greedy, exact global graph (reference; lazy {te['seconds']:.2f} s, "
                     f"batched {tb['seconds']:.2f} s, objective ratio {float(bgains.sum()) / ref:.5f})", "-",
                     f"{t_graph:.2f}", f"{t_sel:.2f}", f"{t_exact:.2f} (1 run)", 1.0, f"{ref:,.1f}", 1.0])
        for label, kw in variants:
            fl = FacilityLocation(k=k, seed=0, **kw)
            med, lo, hi, sel = median3(lambda: fl.select(X, b), repeats)
            d = sel.diagnostics
            obj = float(replay(W, sel.indices).sum())
            rows.append([f"{frac:.0%}", label, f"{d['partitions']} ({d['partition_sizes'][0]}-"
                         f"{d['partition_sizes'][1]})" if "partition_sizes" in d else
                         f"{d['lists']} lists, probe {d['probe']}" if "lists" in d else d["partitions"],
                         f"{d['seconds_graph']:.2f}", f"{med - d['seconds_graph']:.2f}", spread(med, lo, hi),
                         t_exact / med, f"{obj:,.1f}", obj / ref])
            if label.startswith("gristmill default"):
                claims.append({"measure": f"facility location objective / exact lazy greedy, {frac:.0%} budget, "
                                          f"n={n:,} real passages", "gristmill": round(obj / ref, 4),
                               "peer": 1.0, "ratio": round(obj / ref, 4), "goal": f">= {GOAL_RATIO}",
                               "met": obj / ref >= GOAL_RATIO, "load": load0, "parity": APPROX})
                claims.append({"measure": f"facility location end-to-end time vs exact, {frac:.0%} budget, "
                                          f"n={n:,}", "gristmill": f"{med:.2f} s ({lo:.2f}-{hi:.2f})",
                               "peer": f"{t_exact:.2f} s (exact)", "ratio": f"1/{t_exact / med:.1f}",
                               "goal": f"<= 1/{GOAL_SPEEDUP:.0f}", "met": t_exact / med >= GOAL_SPEEDUP,
                               "load": load_now(), "parity": APPROX})
        ap = apricot_fl(W, b) if apricot else None
        if ap is not None:
            picks, secs = ap
            obj = float(replay(W, picks).sum())
            rows.append([f"{frac:.0%}", "apricot-select lazy, same exact graph (given W.T, as its docs ask)", "-",
                         f"{t_graph:.2f}", f"{secs:.2f}", f"{t_graph + secs:.2f} (1 run)",
                         t_exact / (t_graph + secs), f"{obj:,.1f}", obj / ref])
            claims.append({"measure": f"facility location objective, apricot on the exact graph, {frac:.0%}",
                           "gristmill": "-", "peer": round(obj / ref, 4), "ratio": "-",
                           "goal": "(peer check: lazy greedy on the same graph should give 1.0)",
                           "met": None, "load": load_now(), "parity": parity()})
    head = (f"Facility location on n={n:,} distinct real passages ({vectors}), k={k}. "
            f"End to end = kNN graph(s) + selection. The reference builds one exact global kNN graph (FAISS flat "
            f"inner product) in {t_graph:.1f} s and runs exact greedy on it; the gristmill rows never build the "
            f"exact graph. Every objective is evaluated on the exact global graph. CPU, FAISS with {threads} "
            f"thread(s). 'speedup' = the reference's end-to-end seconds / the row's. gristmill rows are the "
            f"median of {repeats} runs (min-max); the reference and apricot ran once. Load (1/5/15 min) at the "
            f"start: {load0}; at the end: {load_now()}.\n\n")
    table = markdown_table(["budget", "method", "partitions (sizes)", "graph s", "select s", "total",
                            "speedup", "objective (exact graph)", "objective / exact"], rows)
    return head + table, claims


def profile_probed(X: np.ndarray, fracs: list[float], k: int) -> str:
    """Where the default's time goes: the phases of probed_graph and the greedy, run once each as
    FacilityLocation.select runs them (wall seconds, the same process as the tables above)."""
    from scipy import sparse

    from gristmill.selectors.facility_location import knn_edges, list_count
    from gristmill.selectors.knn import nearest_centroids, probed_knn, train_centroids, with_reverse
    n, fl = len(X), FacilityLocation(k=k, seed=0)
    lists = list_count(n, fl.list_size)
    rows, load0 = [], load_now()

    def phase(label, fn):
        with timed() as t:
            out = fn()
        rows.append([label, f"{t['seconds']:.2f}"])
        return out

    cents = phase(f"k-means centroids ({lists} lists, trained on a sample of 32 rows a list, 5 iterations)",
                  lambda: train_centroids(X, lists, seed=0))
    near = phase(f"each row's {fl.probe} nearest lists (n x lists products)",
                 lambda: nearest_centroids(X, cents, fl.probe))
    sims, idx = phase("exact search inside the probed lists, best k of the probes (FAISS, one call a list)",
                      lambda: probed_knn(X, k, near, reverse=False))
    sims, idx = phase("merge in the rows that found each row (with_reverse)", lambda: with_reverse(sims, idx, k))
    def graph():
        r, c, v = knn_edges(sims, idx)
        return sparse.csc_matrix((v, (r, c)), shape=(n, n))

    W = phase("edges and CSC graph", graph)
    for frac in fracs:
        phase(f"batched_greedy, {frac:.0%} budget", lambda: batched_greedy(W, int(frac * n)))
    products = int(np.bincount(near[:, 0], minlength=lists)[near].sum())
    return (f"Where the default's time goes at n={n:,} (each phase once, wall seconds; {products / n:,.0f} "
            f"similarities a row in the probed lists, vs {n:,} for the exact graph; load {load0}, at the end "
            f"{load_now()}):\n\n" + markdown_table(["phase", "seconds"], rows))


def edit(text: str, rng: random.Random) -> str:
    """A light human-like edit: drop one sentence-ish chunk and swap two neighbouring words."""
    words = text.split()
    if len(words) > 12:
        cut = rng.randrange(0, len(words) - 6)
        words = words[:cut] + words[cut + rng.randint(2, 5):]
    if len(words) > 3:
        i = rng.randrange(0, len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def bench_semdedup(texts: list[str], base: np.ndarray, n_dups: int, tokens: int) -> str:
    rng = random.Random(1)
    src = rng.sample(range(len(texts)), n_dups)
    dup_texts = [edit(texts[i], rng) for i in src]
    path = CACHE / f"planted-dups-{len(texts)}-{n_dups}-t{tokens}.npy"
    if path.exists():
        D = np.load(path)
    else:
        D = Embedder(EmbedSettings(max_tokens=tokens, batch_size=64)).embed(dup_texts)
        np.save(path, D)
    X = np.concatenate([base, D])
    planted = np.arange(len(base), len(X))
    cos = (base[src] * D).sum(axis=1)
    rows = []
    for eps in (0.01, 0.03, 0.05, 0.1, 0.2):
        with timed() as t:
            sel = SemDeDup(eps=eps).select(X, 1.0)
        kept = np.zeros(len(X), bool)
        kept[sel.indices] = True
        pair_hit = ~(kept[planted] & kept[np.asarray(src)])  # one of each planted pair removed
        d4 = D4(eps=eps).select(X, 0.5)
        rows.append([eps, sel.diagnostics["removed_fraction"], float(pair_hit.mean()), f"{t['seconds']:.2f}",
                     d4.diagnostics["semdedup_removed_fraction"], len(d4)])
    head = (f"SemDeDup / D4 on {len(X):,} real-passage embeddings ({len(base):,} distinct passages + {n_dups} "
            f"planted duplicates: real passages with a few words cut and two swapped, re-embedded; median cosine "
            f"to the original {np.median(cos):.3f}, min {cos.min():.3f})\n\n")
    return head + markdown_table(["eps", "SemDeDup removed", "planted pairs caught", "seconds",
                                  "D4 SemDeDup removed", "D4 kept (budget 50%)"], rows)


def spark_agreement(X: np.ndarray, fracs: list[float], k: int) -> tuple[str, list[dict]]:
    """The default's picks through the Spark path (real local[2] SparkSession, the vectors written as 1,000-row
    float32 shards) against the one-process picks on the same vectors: same ids, same order. Each budget is a
    separate Spark run (graph and greedy), as a user's would be."""
    import tempfile

    from gristmill.pipeline.spark import SparkConfig, get_spark
    from gristmill.selectors import spark_select
    from gristmill.selectors.embed import shard_key, write_shard
    spark = get_spark(SparkConfig(master="local[2]", driver_memory="4g", shuffle_partitions=16))
    ids = [f"p{i:07d}" for i in range(len(X))]
    rows, claims = [], []
    load0 = load_now()
    with tempfile.TemporaryDirectory(prefix="bench-fl-spark-") as tmp:
        keys = []
        for lo in range(0, len(X), 1000):
            key = shard_key(ids[lo:lo + 1000])
            write_shard(Path(tmp), key, ids[lo:lo + 1000], X[lo:lo + 1000], dtype="float32")
            keys.append(key)
        for frac in fracs:
            b = int(frac * len(X))
            sel = FacilityLocation(k=k, seed=0)
            with timed() as t1:
                one = [ids[i] for i in sel.select(X, b).indices]
            with timed() as t2:
                ranked, _, cached = spark_select.facility_location(spark, sel, Path(tmp), keys, len(X), b)
                got = [r["id"] for r in sorted(ranked.collect(), key=lambda r: r["select_rank"])]
            cached.unpersist()
            same_set = len(set(one) & set(got)) / b
            same_order = float(np.mean([a == c for a, c in zip(one, got)])) if len(got) == b else 0.0
            rows.append([f"{frac:.0%}", f"{len(X):,}", b, f"{same_set:.4f}", f"{same_order:.4f}",
                         f"{t1['seconds']:.1f}", f"{t2['seconds']:.1f}"])
            claims.append({"measure": f"facility location Spark path (local[2]) vs one process, same picks in the "
                                      f"same order, {frac:.0%} budget, n={len(X):,} real passages",
                           "gristmill": f"{same_order:.4f} (set {same_set:.4f}; Spark {t2['seconds']:.0f} s)",
                           "peer": "1.0", "ratio": round(same_order, 4), "goal": "1.0 (the same picks)",
                           "met": same_order == 1.0 and same_set == 1.0, "load": load_now(), "parity": parity()})
    return (f"Spark path vs one process, the default (graphs: probed), first {len(X):,} of the same vectors, real "
            f"local[2] SparkSession, one Spark run per budget (load at the start {load0}, at the end "
            f"{load_now()}):\n\n" +
            markdown_table(["budget", "n", "picks", "same picks (fraction)", "same rank (fraction)",
                            "one process s", "Spark s"], rows)), claims


def commit() -> str:
    import subprocess
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="real passages (the first n of passages.py's order)")
    ap.add_argument("--tokens", type=int, default=128, help="token window of the embeddings")
    ap.add_argument("--budgets", default="0.05,0.1,0.3", help="fractions selected")
    ap.add_argument("--k", type=int, default=10, help="neighbours in the kNN graph")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dups", type=int, default=300, help="planted semantic duplicates for SemDeDup")
    ap.add_argument("--semdedup-n", type=int, default=20_000, help="passages for the SemDeDup table")
    ap.add_argument("--threads", type=int, default=1,
                    help="FAISS/OpenMP threads for every method (1: on a shared 2-core box 2 threads spin-wait)")
    ap.add_argument("--no-apricot", action="store_true")
    ap.add_argument("--cached-only", action="store_true",
                    help="use at most the passages already embedded (never embed here; for --quick)")
    ap.add_argument("--skip-semdedup", action="store_true")
    ap.add_argument("--extra", action="store_true", help="also the tuning rows (partition counts, merge, ...)")
    ap.add_argument("--spark-n", type=int, default=100_000,
                    help="vectors for the Spark-vs-one-process agreement table (the first n; 0: skip; at 100k "
                         "about a minute per budget on local[2])")
    ap.add_argument("--cheap", action="store_true",
                    help="TF-IDF + SVD vectors (passages.cheap_embeddings over every distinct passage, the first n "
                         "rows; labelled) instead of MiniLM's, for an n this CPU cannot embed; writes "
                         "results/selectors_cheap.md, which the MiniLM run appends to selectors.md")
    args = ap.parse_args()
    import faiss
    faiss.omp_set_num_threads(args.threads)
    if args.cheap:
        texts, X = cheap_embeddings(1_000_000)  # fitted on every distinct passage; the first n rows used
        vectors = (f"TF-IDF of hashed unigrams + bigrams reduced to 384-d by TruncatedSVD fitted on all {len(X):,} "
                   f"distinct passages (passages.cheap_embeddings), NOT MiniLM")
        texts, X = texts[:args.n], X[:args.n]
    else:
        if args.cached_only:
            have = cached_count(args.tokens)
            if have == 0:
                raise SystemExit("no cached passage embeddings: run benchmarks/passages.py --n 20000 first")
            args.n = min(args.n, have)
        texts, X = embeddings(args.n, args.tokens)
        vectors = "all-MiniLM-L6-v2 embeddings, gristmill's embedder, 128-token window"
    if len(X) < args.n:
        print(f"using {len(X):,} passages (asked for {args.n:,})", file=sys.stderr)
    variants = [("gristmill default (facility_location with no settings: graphs probed)", {}),
                ("INGENIOUS partitioned (graphs: partition, the previous default)", {"graphs": "partition"})]
    if args.extra:
        variants += [("INGENIOUS proportional allocation (published)", {"graphs": "partition",
                                                                        "allocation": "proportional"}),
                     ("probed, probe 6", {"probe": 6}),
                     ("probed, probe 16", {"probe": 16}),
                     ("stochastic greedy (eps 0.01) on the probed graph", {"optimizer": "stochastic"})]
    fracs = [float(f) for f in args.budgets.split(",")]
    fl, claims = bench_facility_location(X, fracs, args.k, args.threads, args.repeats, variants,
                                         not args.no_apricot, vectors)
    parts = [f"Commit {commit()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load at the start "
             f"and end of each table beside it.", fl]
    parts.append(profile_probed(X, fracs, args.k))
    if args.spark_n:
        table, spark_claims = spark_agreement(X[:min(args.spark_n, len(X))], fracs, args.k)
        parts.append(table)
        claims += spark_claims
    if args.cheap:
        publish("selectors_cheap", "\n\n".join(parts))
        return
    cheap = RESULTS / "selectors_cheap.md"
    if cheap.exists():
        parts.append("At the largest n reachable here, on cheap vectors (results/selectors_cheap.md, made by "
                     "`bench_selectors.py --cheap`; only ~178k distinct passages exist on this machine):"
                     "\n\n" + cheap.read_text().split("\n", 1)[1])
    parts.append(NOT_MEASURED)
    if not args.skip_semdedup:
        m = min(args.semdedup_n, len(X))
        parts.append(bench_semdedup(texts[:m], X[:m], args.dups, args.tokens))
    parts.append("CPU only (no GPU lent to this task). FAISS ran with "
                 f"{args.threads} OpenMP thread(s) for every method.")
    publish("selectors", "\n\n".join(parts))
    write_claims("selectors", claims)


NOT_MEASURED = """Not measured here: MiniLM vectors past those cached when the run started (the 100k embedding
was still running at ~11 passages/s under load 16); 1M passages. Only ~178k distinct passages exist on this
machine and MiniLM embeds ~20-100 passages/s on its 2 shared cores, so 1M needs a GPU run: embed 1M passages
there (a larger corpus than passages.py's), then `bench_selectors.py --n 1000000` on a machine with the cores to
build the exact flat reference graph (n^2: about 100x the 100k reference's time). The probed graph's cost grows
about n^1.5 (lists of about sqrt(n)/2 rows, 10 probed), the exact graph's n^2, so the time ratio grows about
sqrt(n) with n."""


if __name__ == "__main__":
    main()
