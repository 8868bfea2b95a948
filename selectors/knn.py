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


def train_centroids(X: np.ndarray, n_clusters: int, seed: int = 0, niter: int = 5, sample_per_centroid: int = 32):
    """Spherical k-means centroids (FAISS), trained on a seeded sample of at most sample_per_centroid rows per
    centroid: inverted lists only need to cut the space into cells of about equal content, not fine clusters."""
    import faiss
    n, d = X.shape
    km = faiss.Kmeans(d, max(1, min(n_clusters, n)), niter=niter, seed=seed, spherical=True, verbose=False,
                      gpu=gpu_count() > 0, min_points_per_centroid=1, max_points_per_centroid=sample_per_centroid)
    km.train(np.ascontiguousarray(X, np.float32))
    return np.ascontiguousarray(km.centroids, np.float32)


def nearest_centroids(X: np.ndarray, centroids: np.ndarray, probe: int) -> np.ndarray:
    """Each row's `probe` most similar centroids, most similar first (its home list is the first)."""
    return search_list(X, centroids, min(probe, len(centroids)))[1].astype(np.int64)


def probe_lists(home: np.ndarray, near: np.ndarray, rows: np.ndarray):
    """For each inverted list c: its members (rows whose home list is c, ascending) and the (query row, slot)
    pairs that probe it (ascending by row), as probed_knn and the Spark path both walk them."""
    P = int(max(home.max(), near.max())) + 1 if len(home) else 0
    members = np.argsort(home, kind="stable")
    cut = np.searchsorted(home[members], np.arange(P + 1))
    flat = near[rows].ravel()
    q_order = np.argsort(flat, kind="stable")
    q_cut = np.searchsorted(flat[q_order], np.arange(P + 1))
    probe = near.shape[1]
    for c in range(P):
        hit = q_order[q_cut[c]:q_cut[c + 1]]
        yield c, members[cut[c]:cut[c + 1]], hit // probe, hit % probe


def search_list(Q: np.ndarray, B: np.ndarray, k: int):
    """The k most similar rows of B to each row of Q (inner product, exact). Returns (sims, positions in B), -1
    past B's size. Q goes to FAISS in blocks under its BLAS threshold, so every similarity comes from FAISS's
    per-pair SIMD product: the one-process and the Spark paths, which batch rows differently, get the same
    similarities to the last bit."""
    import faiss
    B = np.ascontiguousarray(B, np.float32)
    step = max(1, int(faiss.cvar.distance_compute_blas_threshold) - 1)
    out = [faiss.knn(np.ascontiguousarray(Q[lo:lo + step], np.float32), B, min(k, len(B)),
                     metric=faiss.METRIC_INNER_PRODUCT) for lo in range(0, len(Q), step)]
    if not out:
        return np.zeros((0, min(k, len(B))), np.float32), np.zeros((0, min(k, len(B))), np.int64)
    return np.concatenate([s for s, _ in out]), np.concatenate([i for _, i in out])


def best_of_probes(sims: np.ndarray, idx: np.ndarray, k: int):
    """Per row, the k most similar of its candidates from every probed list (row-wise arrays; -1 = none; the
    lists are disjoint, so no candidate comes twice), most similar first, equal similarities by the lower row
    number (also at the k-th place: one integer key per candidate, similarity then row, so the partition cannot
    pick among ties). Returns (sims, idx) like knn."""
    key = (descending(sims).astype(np.uint64) << np.uint64(32)) | idx.astype(np.uint64) & np.uint64(0xFFFFFFFF)
    key[idx < 0] = np.iinfo(np.uint64).max
    if key.shape[1] > k:
        key = np.take_along_axis(key, np.argpartition(key, k - 1, axis=1)[:, :k], axis=1)
    key.sort(axis=1)
    none = key == np.iinfo(np.uint64).max
    out_i = np.where(none, -1, (key & np.uint64(0xFFFFFFFF)).astype(np.int64))
    up = ~(key >> np.uint64(32)).astype(np.uint32)  # back to the float's monotone bits
    bits = np.where(up >> 31, up & np.uint32(0x7FFFFFFF), ~up)
    return np.where(none, 0, bits.view(np.float32)).astype(np.float32), out_i


def probed_knn(X: np.ndarray, k: int, near: np.ndarray, reverse: bool = True):
    """Approximate kNN by inverted lists: row i is compared with the members of its `near[i]` lists (a list's
    members: the rows whose nearest centroid it is, near[:, 0]), one exact product per list against all the rows
    that probe it. Exact inside the probed lists, so a row finds itself. reverse: merge in the rows that found
    each row (with_reverse). Returns (sims, idx) like knn."""
    n, probe = near.shape
    k = min(k, n)
    # one row of k per (row, slot), at row * probe + slot: row i's probes side by side once reshaped to (n, probe * k)
    sims = np.zeros((n * probe, k), np.float32)
    idx = np.full((n * probe, k), -1, np.int32 if n < 2**31 else np.int64)  # half the bytes to fill and sort
    for _, base, qi, slot in probe_lists(near[:, 0], near, np.arange(n)):
        if len(base) == 0 or len(qi) == 0:
            continue
        S, top = search_list(X[qi], X[base], k)
        at = qi * probe + slot
        sims[at, :S.shape[1]] = S
        idx[at, :S.shape[1]] = np.where(top >= 0, base[np.maximum(top, 0)], -1)
    sims, idx = best_of_probes(sims.reshape(n, probe * k), idx.reshape(n, probe * k), k)
    sims, idx = with_reverse(sims, idx, k) if reverse else (sims, idx)
    return sims, idx.astype(np.int64)


def descending(vals: np.ndarray) -> np.ndarray:
    """uint32 keys that sort float32 values from the largest down (-0.0 as 0.0), for one integer sort."""
    b = (np.asarray(vals, np.float32) + np.float32(0)).view(np.uint32)
    up = np.where(b >> 31, ~b, b | np.uint32(1 << 31))  # IEEE bits made monotone in the value
    return ~up


def with_reverse(sims: np.ndarray, idx: np.ndarray, k: int):
    """Each row's k best of its own neighbours and of the rows that found it (similarity is symmetric: if j
    found i, i is j's candidate too, at no new product). Recovers neighbours that sat in lists a row did not
    probe but whose own probes reached it. Returns (sims, idx) like knn."""
    n, w = idx.shape
    ok = idx >= 0
    src = np.repeat(np.arange(n), w).reshape(n, w)[ok]
    dst, val = idx[ok], sims[ok]
    keep = src != dst
    src, dst, val = src[keep], dst[keep], val[keep]
    # per receiving row: the most similar finders first, equal ones by row (src ascends already; the sort is stable)
    order = np.argsort((dst.astype(np.uint64) << np.uint64(32)) | descending(val), kind="stable")
    dst, src, val = dst[order], src[order], val[order]
    rank = np.arange(len(dst)) - np.searchsorted(dst, dst)
    top = rank < k
    rev_s, rev_i = np.zeros((n, k), np.float32), np.full((n, k), -1, np.int64)
    rev_s[dst[top], rank[top]], rev_i[dst[top], rank[top]] = val[top], src[top]
    cs, ci = np.concatenate([sims, rev_s], axis=1), np.concatenate([idx, rev_i], axis=1)
    o = np.argsort(ci, axis=1, kind="stable")  # a neighbour found both ways: keep one copy
    si = np.take_along_axis(ci, o, axis=1)
    dup = np.zeros_like(si, bool)
    dup[:, 1:] = (si[:, 1:] == si[:, :-1]) & (si[:, 1:] >= 0)
    return best_of_probes(np.take_along_axis(cs, o, axis=1), np.where(dup, -1, si), k)
