"""SemDeDup (Abbas et al. 2023) and D4 (Tirumala et al. 2023) as Spark jobs: the driver trains k-means centroids
on a bounded sample of vectors (the whole corpus when it fits under `sample_rows`, so a small corpus gets exactly
the single-process clusters) and holds them and a few counts; the workers assign every vector to its nearest
centroid (`mapInArrow`), each cluster's within-cluster duplicate test runs in `applyInPandas`, and the ranking is
a distributed sort. The maths is semdedup.py's own functions, so the picks are the single-process path's.

SemDeDup keeps every item whose cosine to every earlier item of its cluster (hard order: farthest from the
centroid first) is at most 1 - eps, and a smaller budget keeps the most unique of them. D4 runs that, then
k-means again on what is left (seed + 1) and ranks by 1 - cosine to the new centroid (SSL prototypes: the most
prototypical go last), one ranking over all clusters, as d4.py does.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import check_embeddings, resolve_budget, spark_path
from .prototypes import SSLPrototypes, resolve_keep
from .semdedup import SemDeDup, auto_clusters, cluster_order, max_earlier_similarity, nearest_centroid
from .spark_select import _rank, decode, shard_dtype, vectors_df


def train_centroids(vecs, n: int, n_clusters: int, seed: int, dtype: str, sample_rows: int) -> np.ndarray:
    """k-means centroids from at most sample_rows vectors pulled to the driver, in corpus order (so a full
    sample is exactly the matrix the single-process path clusters)."""
    from .knn import kmeans
    frac = min(1.0, sample_rows / max(n, 1))
    sample = vecs if frac >= 1.0 else vecs.sample(fraction=frac, seed=seed)
    table = sample.orderBy("pos").select("vec").toArrow()
    S = check_embeddings(decode(table.column("vec").to_pylist(), dtype), "sampled embeddings")
    return np.ascontiguousarray(kmeans(S, n_clusters, seed=seed)[0], np.float32)


def _assign(centroids, dtype: str, keep_vec: bool):
    """Each vector's nearest centroid and its cosine to it (semdedup.nearest_centroid, batch by batch)."""
    def fn(batches):
        import pyarrow as pa
        C = centroids.value
        for b in batches:
            if not b.num_rows:
                continue
            a, sim = nearest_centroid(check_embeddings(decode(b.column("vec").to_pylist(), dtype)), C)
            cols = [b.column("id"), b.column("pos"), pa.array(a, pa.int64()), pa.array(sim, pa.float32())]
            names = ["id", "pos", "cluster", "to_centroid"]
            if keep_vec:
                cols.append(b.column("vec"))
                names.append("vec")
            yield pa.RecordBatch.from_arrays(cols, names=names)
    return fn


def _dedup_cluster(eps: float, order: str, dtype: str, keep_vec: bool):
    """One cluster: SemDeDup's order, then each item's max cosine to any earlier item (semdedup.py's)."""
    def fn(pdf):
        import pandas as pd
        rows = pdf["pos"].to_numpy()
        at = cluster_order(pdf["to_centroid"].to_numpy(np.float32), rows, order)
        pdf = pdf.iloc[at]
        best = max_earlier_similarity(check_embeddings(decode(list(pdf["vec"]), dtype)))
        out = pd.DataFrame({"id": pdf["id"].to_numpy(), "pos": pdf["pos"].to_numpy(),
                            "unique": (1.0 - np.maximum(best, 0.0)).astype(np.float64),  # float32 as semdedup.py
                            "keep": best <= 1.0 - eps})
        if keep_vec:
            out["vec"] = pdf["vec"].to_numpy()
        return out
    return fn


def flags(spark, vecs, n: int, n_clusters: int, eps: float, order: str, seed: int, dtype: str, sample_rows: int,
          keep_vec: bool = False):
    """(id, pos, unique, keep[, vec]) for every row: SemDeDup's verdicts, computed in the workers."""
    centroids = spark.sparkContext.broadcast(train_centroids(vecs, n, n_clusters, seed, dtype, sample_rows))
    schema = "id string, pos long, cluster long, to_centroid float, vec binary"
    assigned = vecs.mapInArrow(_assign(centroids, dtype, True), schema)
    out = "id string, pos long, unique double, keep boolean" + (", vec binary" if keep_vec else "")
    return assigned.groupBy("cluster").applyInPandas(_dedup_cluster(eps, order, dtype, keep_vec), out)


def semdedup(spark, sel, folder: Path, keys: list[str], n: int, budget, sample_rows: int = 200_000):
    """SemDeDup over the shards; returns (ranked DataFrame, diagnostics, a DataFrame to unpersist)."""
    from pyspark.sql import functions as F
    b = resolve_budget(budget, n)
    k = sel.n_clusters or auto_clusters(n, sel.per_cluster)
    dtype = shard_dtype(folder, keys)
    verdict = flags(spark, vectors_df(spark, folder, keys), n, k, sel.eps, sel.order, sel.seed, dtype,
                    sample_rows).persist()
    kept = verdict.filter(F.col("keep"))
    m = kept.count()
    ranked = _rank(kept, [F.col("unique").desc(), F.col("pos")], "unique", None, limit=min(b, m))
    diag = {"n": n, "budget": b, "eps": sel.eps, "n_clusters": k, "kept_after_dedup": m,
            "removed_fraction": 1 - m / n, "budget_unmet": m < b, "distributed": True,
            "sample_rows": min(n, sample_rows)}
    return ranked, diag, verdict


def ssl_prototypes(spark, sel, folder: Path, keys: list[str], n: int, budget, sample_rows: int = 200_000):
    """SSL prototypes over the shards: centroids on the driver, each vector's distance to its nearest centroid
    in the workers, a distributed ranking (hard: farthest first; easy: closest first)."""
    from pyspark.sql import functions as F

    b = resolve_budget(budget, n)
    k = sel.n_clusters or auto_clusters(n, sel.per_cluster)
    keep = resolve_keep(sel.keep, n, sel.abundant_rows)
    dtype = shard_dtype(folder, keys)
    vecs = vectors_df(spark, folder, keys)
    centroids = spark.sparkContext.broadcast(train_centroids(vecs, n, k, sel.seed, dtype, sample_rows))
    scored = (vecs.mapInArrow(_assign(centroids, dtype, False), "id string, pos long, cluster long, to_centroid float")
              .withColumn("score", F.lit(1.0) - F.col("to_centroid").cast("double")))
    first = F.col("score").desc() if keep == "hard" else F.col("score").asc()
    ranked = _rank(scored, [first, F.col("pos")], "score", None, limit=b)
    diag = {"n": n, "budget": b, "n_clusters": k, "keep": keep, "distributed": True,
            "sample_rows": min(n, sample_rows)}
    return ranked, diag, None


def d4(spark, sel, folder: Path, keys: list[str], n: int, budget, sample_rows: int = 200_000):
    """D4 over the shards: SemDeDup, then SSL-prototype ranking of what is left on new centroids."""
    from pyspark.sql import functions as F
    b = resolve_budget(budget, n)
    k = sel.n_clusters or auto_clusters(n, sel.per_cluster)
    dtype = shard_dtype(folder, keys)
    kept = flags(spark, vectors_df(spark, folder, keys), n, k, sel.eps, "hard", sel.seed, dtype, sample_rows,
                 keep_vec=True).filter(F.col("keep")).select("id", "pos", "vec").persist()
    m = kept.count()
    k2 = sel.n_clusters or auto_clusters(m, sel.per_cluster)
    centroids = spark.sparkContext.broadcast(train_centroids(kept, m, k2, sel.seed + 1, dtype, sample_rows))
    scored = (kept.mapInArrow(_assign(centroids, dtype, False), "id string, pos long, cluster long, to_centroid float")
              .withColumn("score", F.lit(1.0) - F.col("to_centroid").cast("double")))
    ranked = _rank(scored, [F.col("score").desc(), F.col("pos")], "score", None, limit=min(b, m))
    diag = {"n": n, "budget": b, "eps": sel.eps, "n_clusters": k, "kept_after_semdedup": m,
            "semdedup_removed_fraction": 1 - m / n, "prototypes_pruned": max(0, m - b), "budget_unmet": m < b,
            "distributed": True, "sample_rows": min(n, sample_rows)}
    return ranked, diag, kept


# -- the distributed paths this module holds, registered for their selectors (base.spark_path) -------------
@spark_path(SemDeDup)
def _semdedup_path(sel, job):
    return semdedup(job.spark, sel, job.folder, job.keys, job.n, job.budget, job.sample_rows)


@spark_path(SSLPrototypes)
def _ssl_prototypes_path(sel, job):
    return ssl_prototypes(job.spark, sel, job.folder, job.keys, job.n, job.budget, job.sample_rows)
