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


def knn_in_lists(X: np.ndarray, centroids: np.ndarray, k: int, nprobe: int, queries: np.ndarray | None = None):
    """k nearest rows of X (by inner product) for each query, searching only the rows whose nearest
    centroid is among the query's `nprobe` nearest centroids: an inverted file whose coarse quantizer is an
    existing clustering (no training, no all-pairs work). Returns (sims, idx), idx into X, -1 where fewer
    than k were found."""
    import faiss
    n, d = X.shape
    quant = faiss.IndexFlatIP(d)
    quant.add(np.ascontiguousarray(centroids, dtype=np.float32))
    ivf = faiss.IndexIVFFlat(quant, d, len(centroids), faiss.METRIC_INNER_PRODUCT)
    ivf.add(np.ascontiguousarray(X, dtype=np.float32))  # rows go to their nearest centroid: the k-means lists
    ivf.nprobe = max(1, min(nprobe, len(centroids)))
    Q = X if queries is None else queries
    return ivf.search(np.ascontiguousarray(Q, dtype=np.float32), min(k, n))
