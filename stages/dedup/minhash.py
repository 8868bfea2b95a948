"""dedup_minhash: near-duplicate removal with MinHash-LSH, every step inside Spark.

Each numbered step is one method of DedupMinhash (`_signatures`, `_candidates`, `_verify`,
`_components`, `tag`).

1. signatures: mapInArrow over Arrow batches (signatures.py: word or character shingles by script) that
   also cuts each signature into its LSH band keys, written to <stage>/signatures/ as one row per
   (doc, band, bucket) (with `verify: signature`, one row per doc with its whole signature)
2. candidates: a window over (band, bucket) finds buckets with two or more docs.
   Buckets up to `max_bucket_pairs` docs give all their pairs; larger ones connect each member to the
   bucket's smallest id, so 10k identical docs make 10k edges, not 50M pairs. Without verification
   (`threshold: null`) every bucket is such a star: only connectivity matters then, and the clusters are
   the same as all pairs would give.
3. verification (when `threshold` is set): an edge survives if its two documents' Jaccard is at least
   `threshold`. `verify: exact` (default) recomputes the shingle sets of the documents that have a
   candidate and compares them (vectorized NumPy over Arrow batches); `verify: signature` uses the
   share of equal signature positions, cheaper but about +-0.04 noisy at 112 permutations, so it drops
   many true pairs just above the threshold and keeps some just below.
4. clusters: connected components (components.py: in one task while the edges number at most
   `components_one_task_max_edges`, as datatrove clusters in one process; above that, large-star /
   small-star rounds across the cluster) -> <stage>/clusters/ with one row per doc that has a near duplicate.
5. tag: the representative of each cluster (by `keep`) stays; the others get drop_reason `dup:near`
   and `duplicate_of` = the representative's id.

`minhash_cluster` is the smallest id in the doc's cluster, and null for a doc with no near
duplicate. Short and empty documents follow the rule in signatures.py: fewer than `ngram` tokens
make a single shingle; no tokens at all means no signature, so the doc is always kept here.
"""
from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from gristmill.pipeline.stage import DROP_REASON, FitStage, StageConfig, worker_cached

from . import signatures as minhash


class DedupMinhashConfig(StageConfig):
    num_perm: int = Field(112, ge=2, description="MinHash permutations; must equal bands x rows")
    bands: int = Field(14, ge=1, description="LSH bands (rows per band = num_perm / bands)")
    ngram: int = Field(5, ge=1, le=64, description="words per shingle")
    shingles: Literal["auto", "words", "chars"] = Field(
        "auto", description="auto: character n-grams for documents mostly in scripts without word spaces "
                            "(Chinese, Japanese, Thai, Lao, Khmer, Myanmar), word n-grams otherwise; "
                            "words or chars force one tokenization")
    char_ngram: int = Field(5, ge=1, le=64, description="characters per shingle for character shingles")
    seed: int = Field(42, description="permutation seed; keep it fixed so reruns and workers agree")
    threshold: float | None = Field(
        0.8, gt=0, le=1,
        description="keep a candidate pair only if its Jaccard reaches this; null trusts LSH buckets")
    verify: Literal["exact", "signature"] = Field(
        "exact", description="how a candidate pair's Jaccard is measured: exact (the two shingle sets, for the "
                             "documents that have candidates only) or signature (share of equal MinHash values: "
                             "cheaper, but misses about half the pairs just above threshold)")
    scope: Literal["global", "per_source"] = "global"
    keep: Literal["first_id", "longest", "quality_score"] = Field(
        "first_id", description="representative per cluster: smallest id, longest text, or highest quality_score "
                                "(ties: longer text, then smaller id)")
    max_bucket_pairs: int = Field(
        20, ge=2, description="buckets with more docs than this link members to the bucket's smallest id "
                              "instead of emitting every pair")
    components_one_task_max_edges: int = Field(
        5_000_000, ge=0, description="edge sets up to this size are clustered in one Spark task (one pass, no "
                                     "rounds); larger ones in distributed large-star/small-star rounds; 0 always "
                                     "uses the rounds")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where signatures are computed; auto uses CUDA when torch sees a GPU")

    @model_validator(mode="after")
    def _bands_divide(self):
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands}), "
                             f"e.g. num_perm: {self.bands * max(1, self.num_perm // self.bands)}")
        return self


def _pick_device(choice: str) -> str:
    if choice == "cpu":
        return "cpu"
    # /dev/nvidiactl is cheap to test; importing torch (seconds, hundreds of MB) only when a GPU may exist
    if choice == "auto" and not os.path.exists("/dev/nvidiactl"):
        return "cpu"
    try:
        import torch
        ok = torch.cuda.is_available()
    except ImportError:
        ok = False
    if choice == "cuda" and not ok:
        raise RuntimeError("dedup_minhash device: cuda, but torch sees no CUDA device; use device: auto or cpu")
    return "cuda" if ok else "cpu"


def _signature_batches(cfg: DedupMinhashConfig, with_scope: bool, batches, with_sig: bool = False):
    """mapInArrow body: (id, text[, _scope]) -> one row (id[, _scope], band, bucket) per LSH band of each
    document with shingles, the band table step 2 groups (signature and banding in one pass, so no signature
    is written and read back to be exploded). with_sig: one row per document (id[, _scope], sig, buckets)
    instead, for `verify: signature`, which compares whole signatures."""
    a, b = worker_cached(("minhash-perm", cfg.num_perm, cfg.seed), lambda: minhash.permutations(cfg.num_perm, cfg.seed))
    device = worker_cached(("minhash-device", cfg.device), lambda: _pick_device(cfg.device))
    for batch in batches:
        n = batch.num_rows
        if not n:
            continue
        hashes, doc = minhash.shingle_hashes_batch(batch.column("text").to_pylist(), cfg.ngram,
                                                   cfg.shingles, cfg.char_ngram)
        if device == "cpu":
            sig = minhash.signatures(hashes, doc, n, a, b)
        else:
            sig = minhash.signatures_torch(hashes, doc, n, a, b, device=device)
        has = np.zeros(n, dtype=bool)
        has[doc] = True
        idx = np.flatnonzero(has)
        if not len(idx):
            continue
        sig = sig[idx]
        buckets = minhash.band_hashes(sig, cfg.bands)
        yield (_per_document(batch, idx, sig, buckets, with_scope) if with_sig
               else _per_band(batch, idx, buckets, with_scope))


def _per_band(batch, idx: np.ndarray, buckets: np.ndarray, with_scope: bool) -> pa.RecordBatch:
    bands = buckets.shape[1]
    rows = pa.array(np.repeat(idx, bands))
    cols = {"id": batch.column("id").take(rows)}
    if with_scope:
        cols["_scope"] = batch.column("_scope").take(rows)
    cols["band"] = pa.array(np.tile(np.arange(bands, dtype=np.int32), len(idx)))
    cols["bucket"] = pa.array(buckets.ravel())
    return pa.RecordBatch.from_pydict(cols)


def _per_document(batch, idx: np.ndarray, sig: np.ndarray, buckets: np.ndarray, with_scope: bool) -> pa.RecordBatch:
    k, nb = sig.shape[1], buckets.shape[1]
    cols = {"id": batch.column("id").take(pa.array(idx))}
    if with_scope:
        cols["_scope"] = batch.column("_scope").take(pa.array(idx))
    # uint32 values stored as int32 bit patterns: equality, the only thing compared, is preserved
    cols["sig"] = pa.ListArray.from_arrays(pa.array(np.arange(0, len(idx) * k + 1, k, dtype=np.int32)),
                                           pa.array(sig.view(np.int32).ravel()))
    cols["buckets"] = pa.ListArray.from_arrays(pa.array(np.arange(0, len(idx) * nb + 1, nb, dtype=np.int32)),
                                               pa.array(buckets.ravel()))
    return pa.RecordBatch.from_pydict(cols)


def _shingle_sets(cfg: DedupMinhashConfig, batches):
    """mapInArrow body: (id, text) -> (id, distinct shingle hashes) for exact Jaccard."""
    for batch in batches:
        n = batch.num_rows
        if not n:
            continue
        hashes, doc = minhash.shingle_hashes_batch(batch.column("text").to_pylist(), cfg.ngram,
                                                   cfg.shingles, cfg.char_ngram)
        # one sort of (doc, hash) keys and a drop of repeats leaves each document's set, in order
        keys = np.unique((doc.astype(np.uint64) << np.uint64(32)) | hashes)
        doc = (keys >> np.uint64(32)).astype(np.int64)
        offsets = np.r_[0, np.cumsum(np.bincount(doc, minlength=n))].astype(np.int32)
        values = pa.array((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32))
        yield pa.RecordBatch.from_pydict({"id": batch.column("id"),
                                          "sh": pa.ListArray.from_arrays(pa.array(offsets), values)})


def _pair_jaccard(batches):
    """mapInArrow body: (u, v, su, sv) with distinct shingles per side -> (u, v, exact Jaccard).

    Vectorized over the batch: key every shingle by its pair, sort, and count the keys seen twice."""
    for batch in batches:
        n = batch.num_rows
        if not n:
            continue
        sizes, keys = [], []
        for col in ("su", "sv"):
            arr = batch.column(col)
            lens = np.diff(arr.offsets.to_numpy()).astype(np.int64)
            vals = arr.flatten().to_numpy(zero_copy_only=False).view(np.uint32).astype(np.uint64)
            keys.append((np.repeat(np.arange(n, dtype=np.uint64), lens) << np.uint64(32)) | vals)
            sizes.append(lens)
        allk = np.sort(np.concatenate(keys))
        same = allk[1:] == allk[:-1]
        inter = np.bincount((allk[1:][same] >> np.uint64(32)).astype(np.int64), minlength=n)
        union = sizes[0] + sizes[1] - inter
        jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        yield pa.RecordBatch.from_pydict({"u": batch.column("u"), "v": batch.column("v"), "jaccard": jac})


class DedupMinhash(FitStage):
    name = "dedup_minhash"
    Config = DedupMinhashConfig
    produces = {"minhash_cluster": "string", "duplicate_of": "string"}

    def __init__(self, config, ctx=None):
        super().__init__(config, ctx)
        self._stats: dict = {}

    def required_columns(self):
        cols = ["id", "text"]
        if self.config.scope == "per_source":
            cols.append("source")
        if self.config.keep == "quality_score":
            cols.append("quality_score")
        return tuple(cols)

    def fit(self, df) -> None:
        sigs = self._signatures(df)
        shared, candidates = self._candidates(sigs)
        edges = self._verify(df, sigs, candidates)
        clusters, rounds = self._components(df, edges)
        self._stats = self._summary(df, sigs, shared, candidates, edges, clusters, rounds)

    def _scope_cols(self) -> list[str]:
        return ["_scope"] if self.config.scope == "per_source" else []

    def _with_sig(self) -> bool:
        return self.config.threshold is not None and self.config.verify == "signature"

    def _signatures(self, df):
        """Step 1: MinHash signatures and their LSH band keys, one row per (document with shingles, band); with
        `verify: signature`, one row per document with its whole signature and band keys."""
        from pyspark.sql import functions as F
        cfg = self.config
        per_source = cfg.scope == "per_source"
        with_sig = self._with_sig()
        src = df.select("id", "text", *([F.coalesce(F.col("source"), F.lit("")).alias("_scope")] if per_source else []))
        schema = ("id string, " + ("_scope string, " if per_source else "")
                  + ("sig array<int>, buckets array<bigint>" if with_sig else "band int, bucket bigint"))
        return self.save_artifact(src.mapInArrow(lambda it: _signature_batches(cfg, per_source, it, with_sig), schema),
                                  "signatures")

    def _bucket_keys(self) -> list[str]:
        return self._scope_cols() + ["band", "bucket"]

    def _candidates(self, sigs):
        """Step 2: documents sharing a band bucket become candidate edges (pairs, or stars for big buckets)."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        cfg = self.config
        keys = self._bucket_keys()
        bucket = Window.partitionBy(*keys)
        rows = (sigs.select("id", *self._scope_cols(), F.posexplode("buckets").alias("band", "bucket"))
                if self._with_sig() else sigs)
        shared = (rows.withColumn("k", F.count("*").over(bucket))
                      .where(F.col("k") >= 2)
                      .withColumn("head", F.min("id").over(bucket)))
        shared = self.save_artifact(shared, "buckets")  # only docs that share a bucket
        members = shared.where(F.col("id") != F.col("head"))
        star = [F.col("id").alias("u"), F.col("head").alias("v")]
        if cfg.threshold is None:
            # nothing is verified, so only connectivity matters: a star per bucket links what all its pairs do
            return shared, self.save_artifact(members.select(*star).distinct(), "candidates")
        # small buckets: every pair, generated from the sorted member list in SQL
        pairs = (shared.where(F.col("k") <= cfg.max_bucket_pairs).groupBy(*keys)
                       .agg(F.array_sort(F.collect_list("id")).alias("ids"))
                       .select(F.explode(F.expr("flatten(transform(ids, (x, i) -> "
                                                "transform(slice(ids, i + 2, size(ids)), "
                                                "y -> struct(y as u, x as v))))"))
                               .alias("e"))
                       .select("e.u", "e.v"))
        stars = members.where(F.col("k") > cfg.max_bucket_pairs).select(*star)
        return shared, self.save_artifact(pairs.unionByName(stars).distinct(), "candidates")

    def _verify(self, df, sigs, candidates):
        """Step 3: keep the candidate edges whose Jaccard reaches `threshold` (all of them without one)."""
        from pyspark.sql import functions as F
        cfg = self.config
        if cfg.threshold is None:
            return candidates
        if cfg.verify == "exact":
            edges = self._verify_exact(df, candidates)
        else:
            s = sigs.select("id", "sig")
            same = F.expr("aggregate(zip_with(su, sv, (x, y) -> if(x = y, 1, 0)), 0, (acc, z) -> acc + z)")
            edges = (candidates.join(s.select(F.col("id").alias("u"), F.col("sig").alias("su")), "u")
                               .join(s.select(F.col("id").alias("v"), F.col("sig").alias("sv")), "v")
                               .where(same >= F.lit(cfg.threshold * cfg.num_perm))
                               .select("u", "v"))
        return self.save_artifact(edges, "verified")

    def _components(self, df, edges):
        """Step 4: connected components of the edges are the clusters; each cluster's representative
        (by `keep`) stays and the others point at it in `duplicate_of`. Returns (clusters, rounds)."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        from .components import connected_components
        cfg = self.config
        comps, rounds = connected_components(edges, one_task_max_edges=cfg.components_one_task_max_edges)
        info = [F.col("id"), F.length(F.coalesce(F.col("text"), F.lit(""))).alias("_len")]
        if cfg.keep == "quality_score":
            info.append(F.col("quality_score").alias("_q"))
        order = {"first_id": [F.col("id")],
                 "longest": [F.col("_len").desc(), F.col("id")],
                 "quality_score": [F.col("_q").desc_nulls_last(), F.col("_len").desc(), F.col("id")]}[cfg.keep]
        w = Window.partitionBy("component").orderBy(*order)
        members = comps.withColumnRenamed("node", "id")
        if cfg.keep != "first_id":  # only these rules need the text length or the score
            members = members.join(df.select(*info), "id")
        return self.save_artifact(
            members.withColumn("_keep", F.first("id").over(w))
                   .select("id", F.col("component").alias("minhash_cluster"),
                           F.when(F.col("id") != F.col("_keep"), F.col("_keep")).alias("duplicate_of")),
            "clusters"), rounds

    def _summary(self, df, sigs, shared, candidates, edges, clusters, rounds) -> dict:
        """Counts from the Parquet footers of the tables fit() wrote, and two scans (no shuffle) for the rest."""
        from pyspark.sql import functions as F

        from gristmill.pipeline.rundir import parquet_rows
        cfg = self.config
        work = self.ctx.work_dir
        # a bucket of k documents has k rows, each with that k: summing 1/k counts it once, (k-1) twice its pairs
        bucket_stats = shared.agg(F.sum(1.0 / F.col("k")).alias("b"), F.sum(F.col("k") - 1).alias("p2")).first()
        n_clustered = parquet_rows(work / "clusters")
        # a cluster keeps exactly one document (the first by `keep`), so clusters = members - removed
        removed = int(clusters.agg(F.count("duplicate_of").alias("d")).first()["d"])
        rows = parquet_rows(work / "signatures")
        n_signed = rows if self._with_sig() else rows // cfg.bands
        n_in = self.ctx.extra.get("input_rows") if self.ctx else None
        if n_in is None:
            n_in = df.count()  # the runner passes it; a direct call counts (no document leaves Spark)
        return {
            "scope": cfg.scope, "num_perm": cfg.num_perm, "bands": cfg.bands, "ngram": cfg.ngram,
            "shingles": cfg.shingles, "char_ngram": cfg.char_ngram,
            "threshold": cfg.threshold, "keep": cfg.keep,
            "docs_signed": n_signed,
            "docs_without_shingles": n_in - n_signed,
            "shared_buckets": round(bucket_stats["b"] or 0),
            "candidate_pairs": int(bucket_stats["p2"] or 0) // 2,
            "candidate_edges": parquet_rows(work / "candidates"),
            "verify": cfg.verify if cfg.threshold is not None else None,
            "verified_edges": parquet_rows(work / "verified") if cfg.threshold is not None else None,
            "components": "spark rounds" if rounds else "one task",
            "components_rounds": rounds,
            "clusters": n_clustered - removed,
            "docs_in_clusters": n_clustered,
            "docs_removed": removed,
        }

    def _verify_exact(self, df, edges):
        """Keep the candidate edges whose shingle sets reach `threshold` Jaccard.

        Shingle sets are computed again only for documents that have a candidate, so the cost follows
        the duplicate rate, not the corpus size."""
        from pyspark.sql import functions as F
        cfg = self.config
        nodes = self.save_artifact(edges.select(F.col("u").alias("id"))
                                   .unionByName(edges.select(F.col("v").alias("id"))).distinct(), "candidate_docs")
        docs = df.select("id", "text").join(F.broadcast(nodes) if self._small("candidate_docs") else nodes,
                                            "id", "left_semi")
        shingles = self.save_artifact(docs.mapInArrow(lambda it: _shingle_sets(cfg, it),
                                                      "id string, sh array<int>"), "candidate_shingles")
        pairs = (edges.join(shingles.select(F.col("id").alias("u"), F.col("sh").alias("su")), "u")
                      .join(shingles.select(F.col("id").alias("v"), F.col("sh").alias("sv")), "v"))
        return (pairs.select("u", "v", "su", "sv")
                     .mapInArrow(_pair_jaccard, "u string, v string, jaccard double")
                     .where(F.col("jaccard") >= F.lit(cfg.threshold))
                     .select("u", "v"))

    def tag(self, df):
        """Step 5: join the clusters back; a document with a `duplicate_of` is dropped as `dup:near`."""
        from pyspark.sql import functions as F
        base = df.drop(*[c for c in ("minhash_cluster", "duplicate_of", DROP_REASON) if c in df.columns])
        out = self.join_artifact(base, "clusters")
        return out.withColumn(DROP_REASON, F.when(F.col("duplicate_of").isNotNull(), F.lit("dup:near")))

    def stats(self):
        return dict(self._stats)
