"""Connected components of an edge DataFrame, inside Spark: alternating large-star / small-star.

Kiveris et al. (2014), "Connected Components in MapReduce and Beyond": each round is two group-bys
and joins, and the number of rounds grows with log(n). When it converges every edge points from a
node to the smallest node of its component, so the component label is that smallest id (ids compare
as strings). The edge set is checkpointed every round so the lineage (and the plan Spark must
optimize) stays short however many rounds it takes.
"""
from __future__ import annotations


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


def connected_components(edges, max_rounds: int = 100):
    """edges: DataFrame(u string, v string), u != v, any direction.
    Returns (DataFrame(node, component) for every node that has an edge, rounds used).

    Nodes without edges are not listed: the caller treats them as singletons."""
    from pyspark.sql import functions as F
    spark = edges.sparkSession
    cur = _cut_lineage(edges.where(F.col("u") != F.col("v"))
                       .select(F.greatest("u", "v").alias("u"), F.least("u", "v").alias("v")).distinct(), spark)
    rounds, n_cur = 0, cur.count()
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
