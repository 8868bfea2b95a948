"""Selection as Spark jobs: the driver holds k-means centroids, a bounded sample of vectors and per-partition
counts; every document's vector, score and id stays in the workers.

- Facility location, default (`graphs="probed"`): centroids from a sample on the driver, every vector sent to
  the inverted lists it probes, one exact search per list in `applyInPandas`, and greedy over the resulting
  approximate global kNN graph in one executor task (n x probe x k candidates, not the vectors): the same
  lists, graph and picks as the one-process path.
- Facility location, INGENIOUS's partitioned greedy (`graphs="partition"`): centroids from a sample on the driver
  (the whole corpus when it fits under `sample_rows`, so a small corpus gets exactly the single-process partitions),
  every vector assigned to its partition in the workers, each partition's exact kNN graph and lazy greedy in
  `applyInPandas` with its proportional budget share, picks ranked by marginal gain across partitions (each pick's
  gain is exact on the union of the partition graphs, as in the single-process path).
- Score selectors (random, and the text selectors DSIR and ZIP-FIT through base.TextSelector): scores in the
  workers and a distributed top-k (a sort and `zipWithIndex`); never a collect of ids or scores. Random draws
  uniform keys from a hash of (seed, id) and DSIR its Gumbel noise the same way, so picks do not depend on
  partitioning (they differ from the single-process generator's draws, but are the same kind of draw).

Each selector declares its own distributed path (`Selector.spark_ready`, `Selector.select_spark(job)` with a
SparkJob); the functions here are the pieces they call, and a plugin selector can bring its own.

- Target kNN: cosine scores in the workers against broadcast target vectors and a distributed top-k (max, mean);
  RDS+'s round robin takes each example's top list with a window per example and runs its turns in one executor
  task (sequential by nature; about 2 x budget rows), never on the driver.
- SemDeDup and D4: spark_semdedup.py.

Not distributed yet (they run on the single-process path): the facility-location merge round and importance
sampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .base import Selection, SelectorError, TextSelector, check_embeddings, check_target, resolve_budget, spark_path
from .facility_location import FacilityLocation
from .target_knn import TargetKNN

SELECTION_SCHEMA = "id string, select_rank long, select_score double, select_weight double"


@dataclass
class SparkJob:
    """What a selector's distributed path gets: the documents (an `id`, `text` DataFrame), the budget, the
    corpus size, and for embedding selectors the shards the workers wrote; target examples when it needs them
    (`embed` turns texts into vectors with the run's embedder)."""
    spark: Any
    df: Any
    budget: int | float
    n: int
    sample_rows: int = 200_000
    folder: Path | None = None
    keys: list[str] | None = None
    target: list[str] | None = None
    target_tasks: list | None = None
    embed: Callable[[list[str]], np.ndarray] | None = None


def column_sums(df, per_batch: Callable[[list], np.ndarray], width: int) -> np.ndarray:
    """The sum over all documents of per_batch(texts) (a vector of `width`), summed in the workers: the
    driver receives one vector per task."""
    def fn(batches):
        import pyarrow as pa
        total = np.zeros(width)
        for b in batches:
            if b.num_rows:
                total += per_batch(b.column("text").to_pylist())
        yield pa.RecordBatch.from_pydict({"v": [total.tobytes()]})
    parts = df.select("text").mapInArrow(fn, "v binary")
    return parts.rdd.map(lambda r: np.frombuffer(r["v"])).fold(np.zeros(width), lambda a, c: a + c)


def score_texts(df, sel, payload: dict):
    """(id, score) for every document: sel.score_texts on each Arrow batch in the workers."""
    def fn(batches):
        import pyarrow as pa
        for b in batches:
            if b.num_rows:
                score = np.asarray(sel.score_texts(b.column("text").to_pylist(), payload), np.float64)
                yield pa.RecordBatch.from_arrays([b.column("id"), pa.array(score, pa.float64())], names=["id", "score"])
    return df.select("id", "text").mapInArrow(fn, "id string, score double")


# -- vectors as a DataFrame ------------------------------------------------------------------------
def _binary_column(mat: np.ndarray):
    import pyarrow as pa
    n, width = mat.shape[0], mat.shape[1] * mat.itemsize
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, pa.py_buffer(np.ascontiguousarray(mat).tobytes())])


def decode(vecs, dtype: str) -> np.ndarray:
    """A column of per-row vector bytes back to a float32 matrix."""
    raw = b"".join(vecs)
    width = len(vecs[0]) // np.dtype(dtype).itemsize if len(vecs) else 0
    return np.frombuffer(raw, dtype=dtype).reshape(len(vecs), width).astype(np.float32)


def vectors_df(spark, folder: Path, keys: list[str]):
    """(id, pos, vec) for every row of the named shards, read by the workers. `pos` orders rows as
    load_embeddings would (shard by shard, row by row); `vec` holds the shard's own dtype's bytes."""
    folder = str(folder)

    def read(batches):
        import pyarrow as pa
        import pyarrow.parquet as pq
        for b in batches:
            for kidx, key in zip(b.column("kidx").to_pylist(), b.column("key").to_pylist()):
                m = np.load(f"{folder}/shard-{key}.npy", mmap_mode="r")
                ids = pq.read_table(f"{folder}/shard-{key}.ids.parquet", columns=["id"]).column("id")
                if len(ids) != m.shape[0]:
                    raise SelectorError(f"{folder}/shard-{key}.npy: {m.shape[0]} vectors but {len(ids)} ids; "
                                        f"delete the shard and rerun `gristmill embed`")
                pos = (np.int64(kidx) << 32) + np.arange(m.shape[0], dtype=np.int64)
                yield pa.RecordBatch.from_arrays([ids.combine_chunks(), pa.array(pos), _binary_column(np.asarray(m))],
                                                 names=["id", "pos", "vec"])

    listing = spark.createDataFrame([(i, k) for i, k in enumerate(keys)], "kidx long, key string")
    parts = max(1, min(len(keys), spark.sparkContext.defaultParallelism * 4))
    return listing.repartition(parts).mapInArrow(read, "id string, pos long, vec binary")


def shard_dtype(folder: Path, keys: list[str]) -> str:
    return str(np.load(Path(folder) / f"shard-{keys[0]}.npy", mmap_mode="r").dtype)


# -- facility location -----------------------------------------------------------------------------
def _partition_plan(sel, vecs, n: int, b: int, dtype: str, sample_rows: int):
    """Centroids (and the sample's own partitions) from at most sample_rows vectors on the driver."""
    frac = min(1.0, sample_rows / n)
    sample = vecs if frac >= 1.0 else vecs.sample(fraction=frac, seed=sel.seed)
    table = sample.orderBy("pos").select("id", "vec").toArrow()
    S = check_embeddings(decode(table.column("vec").to_pylist(), dtype), "sampled embeddings")
    p = sel.n_partitions(n, b)
    if p == 1:
        return {d: 0 for d in table.column("id").to_pylist()}, S.mean(axis=0, keepdims=True), 1
    members, centroids = sel._kmeans_partitions(S, np.arange(len(S)), p, target=math.ceil(len(S) / p))
    ids = table.column("id").to_pylist()
    own = {ids[i]: c for c, m in enumerate(members) for i in m}
    return own, np.ascontiguousarray(centroids, np.float32), len(members)


def _assign(own: dict, centroids: np.ndarray, dtype: str):
    def fn(batches):
        import pyarrow as pa
        for b in batches:
            if not b.num_rows:
                continue
            ids = b.column("id").to_pylist()
            X = check_embeddings(decode(b.column("vec").to_pylist(), dtype))
            near = np.argmax(X @ centroids.T, axis=1)
            part = [own.get(d, int(c)) for d, c in zip(ids, near)]
            yield pa.RecordBatch.from_arrays([b.column("id"), b.column("pos"), b.column("vec"),
                                              pa.array(part, pa.int32())], names=["id", "pos", "vec", "part"])
    return fn


def _greedy_in_partition(k: int, shares: dict, dtype: str, seed: int, optimizer: str, eps: float,
                         weights: bool = True):
    def fn(pdf):
        import pandas as pd
        from scipy import sparse

        from .facility_location import blockwise_greedy, coverage_weights, knn_edges, stochastic_greedy
        from .knn import knn
        part = int(pdf["part"].iloc[0])
        share = int(shares.get(part, 0))
        if share == 0:
            return pd.DataFrame({"id": [], "part": [], "t": [], "gain": [], "weight": []})
        pdf = pdf.sort_values("pos", kind="stable")
        X = check_embeddings(decode(list(pdf["vec"]), dtype))
        m = X.shape[0]
        r, c, v = knn_edges(*knn(X, k, index="flat", seed=seed))
        W = sparse.csc_matrix((v, (r, c)), shape=(m, m))
        if optimizer == "lazy":  # the single-process path's greedy, so both pick the same on the same partition
            (picks, gains), = blockwise_greedy(W, np.array([0, m]), np.array([share]))
        else:
            picks, gains = stochastic_greedy(W, share, np.random.default_rng([seed, part]), eps)
        w = coverage_weights(W, picks)[0] if weights else np.ones(len(picks))
        ids = pdf["id"].to_numpy()
        return pd.DataFrame({"id": ids[picks], "part": part, "t": np.arange(len(picks)),
                             "gain": np.asarray(gains, np.float64), "weight": w})
    return fn


def _probe_rows(centroids: np.ndarray, probe: int, dtype: str):
    """Each vector once per list it probes: (pos, vec, list, slot), slot 0 being its home list."""
    def fn(batches):
        import pyarrow as pa

        from .knn import nearest_centroids
        for b in batches:
            if not b.num_rows:
                continue
            near = nearest_centroids(check_embeddings(decode(b.column("vec").to_pylist(), dtype)), centroids, probe)
            m, p = near.shape
            take = pa.array(np.repeat(np.arange(m), p))
            yield pa.RecordBatch.from_arrays([b.column("pos").take(take), b.column("vec").take(take),
                                              pa.array(near.ravel().astype(np.int32)),
                                              pa.array(np.tile(np.arange(p, dtype=np.int32), m))],
                                             names=["pos", "vec", "list", "slot"])
    return fn


def _search_list_task(k: int, dtype: str):
    """One inverted list: every row that probes it against its members (slot 0), as probed_knn does; each row's
    k best (padded with -1 / 0 to k) go out as bytes."""
    def fn(pdf):
        import pandas as pd

        from .knn import search_list
        pdf = pdf.sort_values("pos", kind="stable")
        X = check_embeddings(decode(list(pdf["vec"]), dtype))
        pos, home = pdf["pos"].to_numpy(), pdf["slot"].to_numpy() == 0
        S, top = search_list(X, X[home], k)
        sims, nbr = np.zeros((len(X), k), np.float32), np.full((len(X), k), -1, np.int64)
        sims[:, :S.shape[1]] = S
        nbr[:, :S.shape[1]] = np.where(top >= 0, pos[home][np.maximum(top, 0)], -1)
        return pd.DataFrame({"pos": pos, "slot": pdf["slot"].to_numpy(), "nbr": [r.tobytes() for r in nbr],
                             "sim": [r.tobytes() for r in sims]})
    return fn


BEST_GROUP_ROWS = 20_000  # rows per group when each row's candidates are cut to its k best


def _best_of_probes_task(k: int):
    """Each row's k best candidates over all the lists it probed (knn.best_of_probes: most similar first, equal
    similarities by the lower row), for the rows of one group. Rows are named by `pos`, which orders them as the
    one-process path numbers them, so the ties break the same way. Run over many groups, so that the one greedy
    task afterwards holds n x k candidates, not n x probe x k."""
    def fn(pdf):
        import pandas as pd

        from .knn import descending
        rows, inv = np.unique(pdf["pos"].to_numpy(), return_inverse=True)
        nbr = np.frombuffer(b"".join(pdf["nbr"]), np.int64)
        sim = np.frombuffer(b"".join(pdf["sim"]), np.float32)
        r = np.repeat(inv, k)
        ok = nbr >= 0  # lists are disjoint: a candidate comes once
        r, nbr, sim = r[ok], nbr[ok], sim[ok]
        order = np.lexsort((nbr, descending(sim), r))
        r, nbr, sim = r[order], nbr[order], sim[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r)
        top = rank < k
        out_s, out_i = np.zeros((len(rows), k), np.float32), np.full((len(rows), k), -1, np.int64)
        out_s[r[top], rank[top]], out_i[r[top], rank[top]] = sim[top], nbr[top]
        return pd.DataFrame({"pos": rows, "nbr": [x.tobytes() for x in out_i],
                             "sim": [x.tobytes() for x in out_s]})
    return fn


def _probed_greedy_task(k: int, b: int):
    """The probed graph from every row's k best candidates, and greedy over it, in one executor task (the greedy
    is sequential by nature; the task holds n x k candidates, never the vectors). Rows are numbered by `pos`,
    the one-process path's order, so ties break the same way."""
    def fn(pdf):
        import pandas as pd
        from scipy import sparse

        from .facility_location import batched_greedy, coverage_weights, knn_edges
        from .knn import with_reverse
        order = np.argsort(pdf["pos"].to_numpy(), kind="stable")
        every = pdf["pos"].to_numpy()[order]  # every row probes its home list, so every row is here, once
        n = len(every)
        nbr = np.frombuffer(b"".join(pdf["nbr"]), np.int64).reshape(n, k)[order]
        sims = np.frombuffer(b"".join(pdf["sim"]), np.float32).reshape(n, k)[order]
        idx = np.where(nbr >= 0, np.searchsorted(every, nbr), -1)
        r, c, v = knn_edges(*with_reverse(sims, idx, k))
        W = sparse.csc_matrix((v, (r, c)), shape=(n, n))
        picks, gains = batched_greedy(W, b)
        return pd.DataFrame({"pos": every[picks], "t": np.arange(len(picks)), "gain": gains,
                             "weight": coverage_weights(W, picks)[0]})
    return fn


def probed_facility_location(spark, sel, folder: Path, keys: list[str], n: int, budget, sample_rows: int = 200_000):
    """FacilityLocation's default (graphs: probed) as Spark jobs: centroids from a sample on the driver (the
    whole corpus when it fits under sample_rows, so a small corpus gets the one-process lists), every vector
    sent to the lists it probes, one exact search per list in `applyInPandas`, each row's k best over its probes
    in groups of rows, and the greedy over the probed graph (n x k candidates) in one executor task. Returns
    (ranked DataFrame, diagnostics, a DataFrame to unpersist)."""
    from pyspark.sql import functions as F

    from .facility_location import list_count
    from .knn import train_centroids
    b = resolve_budget(budget, n)
    dtype = shard_dtype(folder, keys)
    vecs = vectors_df(spark, folder, keys).persist()
    frac = min(1.0, sample_rows / n)
    sample = vecs if frac >= 1.0 else vecs.sample(fraction=frac, seed=sel.seed)
    S = check_embeddings(decode(sample.orderBy("pos").select("vec").toArrow().column("vec").to_pylist(), dtype),
                         "sampled embeddings")
    lists = list_count(n, sel.list_size)
    centroids = train_centroids(S, lists, seed=sel.seed)
    probe, k = min(sel.probe, len(centroids)), min(sel.k, n)
    probes = vecs.mapInArrow(_probe_rows(centroids, probe, dtype), "pos long, vec binary, list int, slot int")
    cands = probes.groupBy("list").applyInPandas(_search_list_task(k, dtype),
                                                 "pos long, slot int, nbr binary, sim binary")
    groups = max(1, n // BEST_GROUP_ROWS)  # each row's probes meet in one group
    best = (cands.withColumn("g", F.col("pos") % F.lit(groups)).groupBy("g")
            .applyInPandas(_best_of_probes_task(k), "pos long, nbr binary, sim binary"))
    picks = (best.withColumn("g", F.lit(0)).groupBy("g")
             .applyInPandas(_probed_greedy_task(k, b), "pos long, t long, gain double, weight double"))
    ranked = _rank(picks.join(vecs.select("id", "pos"), "pos"), [F.col("t")], "gain", "weight")
    diag = {"n": n, "budget": b, "partitions": 1, "lists": lists, "probe": sel.probe, "best_of_probes_groups": groups,
            "optimizer": sel.optimizer,
            "k": sel.k, "graph": "probed", "distributed": True, "sample_rows": min(n, sample_rows),
            "objective_graph": "the probed (approximate) global kNN graph"}
    return ranked, diag, vecs


def facility_location(spark, sel, folder: Path, keys: list[str], n: int, budget, sample_rows: int = 200_000):
    """Partitioned facility location over the shards as Spark jobs; returns (ranked DataFrame, diagnostics)."""
    from pyspark.sql import functions as F

    from .facility_location import proportional
    if not sel.spark_ready():
        raise SelectorError("distributed facility location runs graphs: probed (optimizer: lazy, sampling: top) and "
                            "the partitioned greedy (graphs: partition, merge: false, sampling: top); set "
                            "`distributed: false` for the others")
    if sel.graphs == "probed":
        return probed_facility_location(spark, sel, folder, keys, n, budget, sample_rows)
    b = resolve_budget(budget, n)
    dtype = shard_dtype(folder, keys)
    vecs = vectors_df(spark, folder, keys)
    own, centroids, parts = _partition_plan(sel, vecs, n, b, dtype, sample_rows)
    assigned = vecs.mapInArrow(_assign(own, centroids, dtype), "id string, pos long, vec binary, part int")
    assigned = assigned.persist()
    counts = {r["part"]: r["count"] for r in assigned.groupBy("part").count().collect()}  # one number a partition
    order = sorted(counts)
    sizes = np.array([counts[p] for p in order])
    share = proportional(b, sizes)
    schema = "id string, part int, t long, gain double, weight double"
    greedy = lambda shares, weights: assigned.groupBy("part").applyInPandas(  # noqa: E731
        _greedy_in_partition(sel.k, shares, dtype, sel.seed, sel.optimizer, sel.eps, weights), schema)
    by_gain = sel.allocation == "gain" and len(order) > 1
    if by_gain:
        # as the one-process path: each partition runs past its proportional share, the budget goes to the
        # largest gains across partitions; then each partition's kept prefix is replayed for its weights
        room = np.minimum(sizes, np.ceil(share * sel.allocation_slack).astype(int) + 1)
        first = greedy(dict(zip(order, room.tolist())), False)
        cut = _rank(first.withColumn("pt", F.col("part") * F.lit(1 << 32) + F.col("t")),
                    [F.col("gain").desc(), F.col("part"), F.col("t")], "gain", None, limit=b, id_col="pt")
        taken = {r["part"]: r["count"] for r in cut.withColumn("part", (F.col("id") / F.lit(1 << 32)).cast("int"))
                 .groupBy("part").count().collect()}
        share = np.array([taken.get(p, 0) for p in order])
    picks = greedy(dict(zip(order, share.tolist())), True)
    ranked = _rank(picks, [F.col("gain").desc(), F.col("part"), F.col("t")], "gain", "weight")
    diag = {"n": n, "budget": b, "partitions": parts, "partition_sizes": [int(sizes.min()), int(sizes.max())],
            "optimizer": sel.optimizer, "k": sel.k, "graph": "partition", "distributed": True,
            "allocation": sel.allocation,
            "sample_rows": min(n, sample_rows), "objective_graph": "the union of the per-partition kNN graphs"}
    return ranked, diag, assigned


# -- score selectors -------------------------------------------------------------------------------
def _uniform(seed: int, ids: list[str]) -> np.ndarray:
    """A uniform (0, 1) number per id from a hash of (seed, id): the same draw on any partitioning."""
    import xxhash
    h = np.fromiter((xxhash.xxh64_intdigest(d, seed=seed) for d in ids), np.uint64, len(ids))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def random_keys(seed: int):
    def fn(batches):
        import pyarrow as pa
        for b in batches:
            if b.num_rows:
                yield pa.RecordBatch.from_arrays([b.column("id"), pa.array(_uniform(seed, b.column("id").to_pylist()))],
                                                 names=["id", "score"])
    return fn


def gumbel_keys(seed: int):
    """DSIR's importance resampling without replacement: top-k of log w + Gumbel noise (per-id noise)."""
    def fn(batches):
        import pyarrow as pa
        for b in batches:
            if b.num_rows:
                u = _uniform(seed, b.column("id").to_pylist())
                key = np.asarray(b.column("score").to_numpy(zero_copy_only=False), np.float64) - np.log(-np.log(u))
                yield pa.RecordBatch.from_arrays([b.column("id"), b.column("score"), pa.array(key)],
                                                 names=["id", "score", "key"])
    return fn


# -- target kNN ------------------------------------------------------------------------------------
def _target_scores(T, dtype: str, aggregate: str):
    """Per vector: cosine to the target centre (mean) or its best cosine to any target example (max)."""
    def fn(batches):
        import pyarrow as pa

        from .target_knn import cosine
        for b in batches:
            if b.num_rows:
                S = cosine(check_embeddings(decode(b.column("vec").to_pylist(), dtype)), T.value)
                score = S[:, 0] if aggregate == "mean" else S.max(axis=1)
                yield pa.RecordBatch.from_arrays([b.column("id"), b.column("pos"), pa.array(score.astype(np.float64))],
                                                 names=["id", "pos", "score"])
    return fn


def _target_lists(T, task, dtype: str, depth: int):
    """Per batch and target task: its `depth` most similar vectors of the batch by the task's max similarity
    (a superset of its share of the global list)."""
    def fn(batches):
        import pyarrow as pa

        from .target_knn import cosine, task_max, top_rows
        for b in batches:
            if not b.num_rows:
                continue
            G = task_max(cosine(check_embeddings(decode(b.column("vec").to_pylist(), dtype)), T.value), task)
            rows = [top_rows(G[:, t], min(depth, len(G))) for t in range(G.shape[1])]
            t = np.repeat(np.arange(G.shape[1]), [len(r) for r in rows])
            r = np.concatenate(rows)
            yield pa.RecordBatch.from_arrays([pa.array(t, pa.int32()), b.column("id").take(pa.array(r)),
                                              b.column("pos").take(pa.array(r)), pa.array(G[r, t].astype(np.float64))],
                                             names=["t", "id", "pos", "sim"])
    return fn


def _round_robin_task(n_targets: int, depth: int, b: int):
    """RDS+'s round robin over the per-task lists. It is sequential by nature (each turn depends on what
    was taken before), so it runs in one executor task over the lists (about 2 x budget rows), not on the driver."""
    def fn(pdf):
        import pandas as pd

        from .target_knn import round_robin
        codes, uniq = pd.factorize(pdf["pos"])
        idx = np.full((n_targets, depth), -1, np.int64)
        sims = np.zeros((n_targets, depth))
        t, at = pdf["t"].to_numpy(), pdf["rn"].to_numpy() - 1
        idx[t, at], sims[t, at] = codes, pdf["sim"].to_numpy()
        picks, scores, ran_out = round_robin(sims, idx, b)
        id_of = pd.Series(pdf["id"].to_numpy(), index=codes).groupby(level=0).first()
        return pd.DataFrame({"id": id_of.loc[picks].to_numpy(), "select_rank": np.arange(1, len(picks) + 1),
                             "select_score": np.asarray(scores, np.float64), "select_weight": 1.0,
                             "ran_out": ran_out})
    return fn


def target_knn(spark, sel, T: np.ndarray, folder: Path, keys: list[str], n: int, budget, tasks: list | None = None):
    """Target kNN (target_knn.py's RDS+ and its max/mean variants) with scores computed in the workers and the
    target vectors broadcast; returns (ranked DataFrame, diagnostics, a DataFrame to unpersist or None)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from .target_knn import task_index
    b = resolve_budget(budget, n)
    dtype = shard_dtype(folder, keys)
    vecs = vectors_df(spark, folder, keys)
    diag = {"n": n, "budget": b, "target_size": len(T), "aggregate": sel.aggregate, "distributed": True}
    if sel.aggregate != "round_robin":
        if sel.aggregate == "mean":
            centre = T.mean(axis=0)
            T = (centre / max(np.linalg.norm(centre), 1e-12))[None, :]
        scored = vecs.mapInArrow(_target_scores(spark.sparkContext.broadcast(T), dtype, sel.aggregate),
                                 "id string, pos long, score double").persist()
        diag["mean_score_all"] = float(scored.agg(F.mean("score")).collect()[0][0])
        return _rank(scored, [F.col("score").desc(), F.col("pos")], "score", None, limit=b), diag, scored
    task = task_index(tasks, len(T))
    g = int(task.max()) + 1
    diag["target_tasks"] = g
    Tb = spark.sparkContext.broadcast(np.ascontiguousarray(T, np.float32))
    vecs = vecs.persist()
    depth = min(n, -(-b // g) * 2 + 8)  # as the single-process path: deeper only when a list runs out
    while True:
        best = Window.partitionBy("t").orderBy(F.col("sim").desc(), F.col("pos"))
        lists = (vecs.mapInArrow(_target_lists(Tb, task, dtype, depth), "t int, id string, pos long, sim double")
                 .withColumn("rn", F.row_number().over(best)).filter(F.col("rn") <= depth).withColumn("g", F.lit(0)))
        picked = lists.groupBy("g").applyInPandas(_round_robin_task(g, depth, b),
                                                  SELECTION_SCHEMA + ", ran_out boolean").persist()
        if depth >= n or not picked.filter(F.col("ran_out")).limit(1).count():
            break
        picked.unpersist()
        depth = min(n, depth * 2)
    vecs.unpersist()
    diag["list_depth"] = depth
    return picked.drop("ran_out"), diag, picked


def top_k(scored, b: int, key: str = "score"):
    """The b rows with the largest key (ties to the smaller id), ranked 1..b, without a collect."""
    from pyspark.sql import functions as F
    return _rank(scored, [F.col(key).desc(), F.col("id")], "score", None, limit=b)


def _rank(df, order, score_col: str, weight_col: str | None, limit: int | None = None, id_col: str = "id"):
    """Global rank by `order` with a distributed sort and zipWithIndex (no single-partition window)."""
    from pyspark.sql import functions as F
    spark = df.sparkSession
    cols = df.orderBy(*order).select(F.col(id_col).cast("string").alias("id"), F.col(score_col).alias("select_score"),
                                      (F.col(weight_col) if weight_col else F.lit(1.0)).alias("select_weight"))
    indexed = cols.rdd.zipWithIndex()
    if limit is not None:
        indexed = indexed.filter(lambda r: r[1] < limit)
    rows = indexed.map(lambda r: (r[0][0], r[1] + 1, float(r[0][1]), float(r[0][2])))
    return spark.createDataFrame(rows, SELECTION_SCHEMA)


def summarize(ranked, n: int, objective: bool, points: int = 100, mean_score: bool = False) -> dict:
    """The count (and the mean score of the picks when asked), and for facility location the objective and its
    coverage curve, from Spark aggregates (about `points` sums, no collect of gains)."""
    from pyspark.sql import functions as F
    b = ranked.count()
    if not objective:
        if mean_score and b:
            return {"selected": b, "mean_score_selected": float(ranked.agg(F.mean("select_score")).collect()[0][0])}
        return {"selected": b}
    at = sorted({int(x) for x in np.linspace(1, b, min(points, b)).round()}) if b else []
    aggs = [F.sum(F.when(F.col("select_rank") <= r, F.col("select_score"))).alias(f"r{r}") for r in at]
    row = ranked.agg(*aggs).collect()[0] if at else {}
    curve = [[r, float(row[f"r{r}"] or 0.0) / n] for r in at]
    objective = curve[-1][1] * n if curve else 0.0
    return {"selected": b, "objective": objective, "objective_per_doc": objective / n if n else 0.0,
            "coverage_curve": curve}


def as_selection(diag: dict) -> Selection:
    """A Selection that carries only diagnostics (the picks stay in the selection files)."""
    empty = np.zeros(0)
    return Selection(np.zeros(0, np.int64), empty, empty, diag)


# -- the distributed paths this module holds, registered for their selectors (base.spark_path) -------------
@spark_path(TextSelector)
def _text_path(sel, job):
    payload = sel.payload(job)
    scored = score_texts(job.df, sel, payload).persist()
    ranked, diag = sel.rank_spark(scored, resolve_budget(job.budget, job.n), payload)
    return ranked, {"n": job.n, "distributed": True, **diag}, scored


@spark_path(FacilityLocation)
def _facility_location_path(sel, job):
    return facility_location(job.spark, sel, job.folder, job.keys, job.n, job.budget, job.sample_rows)


@spark_path(TargetKNN)
def _target_knn_path(sel, job):
    T = check_embeddings(job.embed(check_target(job.target)), what="target embeddings")
    return target_knn(job.spark, sel, T, job.folder, job.keys, job.n, job.budget, job.target_tasks)
