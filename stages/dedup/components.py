"""Connected components of an edge DataFrame, inside Spark; each component is labelled by its smallest id.

Two ways, the same answer:
- one task (edge sets up to `one_task_max_edges`, the common case: a crawl's near-duplicate edges are a
  small fraction of its documents): every edge goes to a single Spark task, which labels the graph with
  scipy's linear-time components, as datatrove's MinhashDedupCluster does in one process. A handful of
  round trips through Spark's scheduler costs more than the graph itself at this size. The edges go to an
  executor, never to the driver.
- rounds: alternating large-star / small-star, Kiveris et al. (2014), "Connected Components in MapReduce
  and Beyond": each round is two group-bys and joins, and the number of rounds grows with log(n). When it
  converges every edge points from a node to the smallest node of its component (ids compare as
  strings). The edge set is checkpointed every round so the lineage (and the plan Spark must optimize)
  stays short however many rounds it takes.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ONE_TASK_MAX_EDGES = 5_000_000  # ~100 B per edge of 20-char ids in the task: about 0.5 GB at the limit
OUT_ROWS = 65_536


def _large_star(edges):
    """Connect every larger neighbour of u to the smallest node in u's closed neighbourhood."""
    from pyspark.sql import functions as F
    both = edges.unionByName(edges.select(F.col("v").alias("u"), F.col("u").alias("v")))
    low = both.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
    return (both.join(low, "u").where(F.col("v") > F.col("u"))
                .select(F.col("v").alias("u"), F.col("m").alias("v")).distinct())


def _small_star(edges):
    """Point u and its smaller neighbours at the smallest of them."""
    from pyspark.sql import functions as F
    down = edges.select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v"))
    low = down.groupBy("u").agg(F.min("v").alias("m"))
    moved = down.join(low, "u").where(F.col("v") != F.col("m")).select(F.col("v").alias("u"), F.col("m").alias("v"))
    return moved.unionByName(low.select("u", F.col("m").alias("v"))).distinct()


def _cut_lineage(df, spark):
    if spark.sparkContext.getCheckpointDir():
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


def _label_in_one_task(batches):
    """mapInArrow body for a single partition holding every edge: (u, v) -> (node, component)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components
    table = pa.Table.from_batches(list(batches), schema=pa.schema([("u", pa.string()), ("v", pa.string())]))
    if not table.num_rows:
        return
    u, v = table.column("u").combine_chunks(), table.column("v").combine_chunks()
    nodes = pc.unique(pa.concat_arrays([u, v]))
    nodes = nodes.take(pc.sort_indices(nodes))  # byte order, as Spark compares strings: index order = id order
    a, b = pc.index_in(u, value_set=nodes).to_numpy(), pc.index_in(v, value_set=nodes).to_numpy()
    n = len(nodes)
    _, label = scipy_components(coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)), directed=False)
    smallest = np.full(label.max() + 1, n, dtype=np.int64)
    np.minimum.at(smallest, label, np.arange(n))
    component = nodes.take(pa.array(smallest[label]))
    for start in range(0, n, OUT_ROWS):
        yield pa.RecordBatch.from_arrays([nodes.slice(start, OUT_ROWS), component.slice(start, OUT_ROWS)],
                                         names=["node", "component"])


def connected_components(edges, max_rounds: int = 100, one_task_max_edges: int = ONE_TASK_MAX_EDGES):
    """edges: DataFrame(u string, v string), u != v, any direction.
    Returns (DataFrame(node, component) for every node that has an edge, Spark rounds used: 0 when the
    edges were few enough for one task).

    Nodes without edges are not listed: the caller treats them as singletons."""
    from pyspark.sql import functions as F
    spark = edges.sparkSession
    cur = _cut_lineage(edges.where(F.col("u") != F.col("v"))
                       .select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v")).distinct(), spark)
    rounds, n_cur = 0, cur.count()
    if n_cur <= one_task_max_edges:
        return cur.repartition(1).mapInArrow(_label_in_one_task, "node string, component string"), 0
    while True:
        rounds += 1
        nxt = _cut_lineage(_small_star(_large_star(cur)), spark)
        n_nxt = nxt.count()
        # both sets are distinct edges (u > v), so equal counts and no new edge means nothing moved
        same = n_nxt == n_cur and nxt.join(cur, ["u", "v"], "left_anti").isEmpty()
        cur, n_cur = nxt, n_nxt
        if same:
            break
        if rounds >= max_rounds:
            raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    roots = cur.select(F.col("v").alias("node"), F.col("v").alias("component")).distinct()
    return cur.select(F.col("u").alias("node"), F.col("v").alias("component")).unionByName(roots), rounds
