"""FAISS helpers shared by the selectors: GPU when FAISS has one, CPU otherwise."""
from __future__ import annotations

import numpy as np


def gpu_count() -> int:
    import faiss
    get = getattr(faiss, "get_num_gpus", None)
    return get() if get else 0


def _maybe_gpu(index):
    import faiss
    if gpu_count() > 0:
        return faiss.index_cpu_to_all_gpus(index)
    return index


def knn(X: np.ndarray, k: int, index: str = "auto", seed: int = 0, queries: np.ndarray | None = None):
    """k nearest neighbours by inner product (X rows normalized: cosine). Returns (sims, idx), -1 where
    an approximate index found fewer than k.

    index: "flat" is exact; "ivf" is an inverted file (about sqrt(n) lists, 16 probed), exact enough for
    facility location and far faster past a few tens of thousands of rows; "auto" picks by size."""
    import faiss
    n, d = X.shape
    k = min(k, n)
    Q = X if queries is None else queries
    if index == "auto":
        index = "flat" if n <= 30_000 else "ivf"
    if index == "flat":
        ix = _maybe_gpu(faiss.IndexFlatIP(d))
        ix.add(X)
    elif index == "ivf":
        nlist = max(1, int(4 * np.sqrt(n)))
        quant = faiss.IndexFlatIP(d)
        cpu = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = X[rng.choice(n, size=min(n, nlist * 40), replace=False)]
        cpu.train(np.ascontiguousarray(sample))
        cpu.add(X)
        cpu.nprobe = min(nlist, 16)
        ix = _maybe_gpu(cpu)
    else:
        raise ValueError(f"unknown knn index {index!r}; use auto, flat or ivf")
    sims, idx = ix.search(np.ascontiguousarray(Q), k)
    return sims, idx


def kmeans(X: np.ndarray, n_clusters: int, seed: int = 0, niter: int = 20, max_points_per_centroid: int = 100_000):
    """Spherical k-means (FAISS). Returns (centroids, assignment, cosine to own centroid).

    max_points_per_centroid: FAISS trains on a random sample of at most this many points per centroid
    (then assigns every point); a few hundred is plenty when the clusters only partition the work."""
    import faiss
    n, d = X.shape
    n_clusters = max(1, min(n_clusters, n))
    km = faiss.Kmeans(d, n_clusters, niter=niter, seed=seed, spherical=True, verbose=False,
                      gpu=gpu_count() > 0, min_points_per_centroid=1,
                      max_points_per_centroid=max_points_per_centroid)
    km.train(np.ascontiguousarray(X))
    sims, assign = km.index.search(np.ascontiguousarray(X), 1)
    return km.centroids, assign[:, 0].astype(np.int64), sims[:, 0]


def knn_between_blocks(X: np.ndarray, queries: list[np.ndarray], candidates: list[np.ndarray], k: int):
    """For each block b, the k nearest rows of X[candidates[b]] (inner product) to each row of X[queries[b]]:
    one dense product per block (BLAS), so a block's queries share the scan of its candidates. Returns
    (rows, cols, sims) in X's row numbers, the pairs FAISS found (none for an empty block)."""
    import faiss
    d = X.shape[1]
    rows, cols, sims = [], [], []
    for q, c in zip(queries, candidates):
        if len(q) == 0 or len(c) == 0:
            continue
        ix = faiss.IndexFlatIP(d)
        ix.add(np.ascontiguousarray(X[c]))
        s, i = ix.search(np.ascontiguousarray(X[q]), min(k, len(c)))
        ok = i >= 0
        rows.append(np.repeat(q, ok.sum(axis=1)))
        cols.append(c[i[ok]])
        sims.append(s[ok])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)
