"""The child process that spark_cds.build() starts: a driver JVM that runs a small job of every common kind
and dumps the classes it loaded into a class-data-sharing archive as it exits (see spark_cds.py).

Its own module because it starts Spark through get_spark, and spark.py reads spark_cds for the archive."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from .spark import SparkConfig, get_spark
from .spark_cds import _quote


def dump(out: Path) -> None:
    """Child process: start the driver JVM as get_spark does, run a small job of every common kind, exit."""
    from pyspark import SparkContext
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    cfg = SparkConfig(master="local[2]", driver_memory="1g", shuffle_partitions=4, class_archive=False,
                      conf={"spark.driver.extraJavaOptions": f"-XX:ArchiveClassesAtExit={_quote(str(out))}"})
    t0 = time.perf_counter()
    spark = get_spark(cfg)
    print(f"cds: JVM up in {time.perf_counter() - t0:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="gristmill-cds-") as d:
        src = Path(d) / "docs.jsonl"
        src.write_text("".join(json.dumps({"id": f"d{i}", "text": f"text {i % 7} " * 5, "source": "cds"}) + "\n"
                               for i in range(300)))
        df = spark.read.json(str(src))

        def tag(batches):
            import pyarrow as pa
            import pyarrow.compute as pc
            for b in batches:
                n = pc.utf8_length(b.column("text"))
                yield b.append_column("drop_reason", pa.array([None] * len(b), pa.string())) \
                       .append_column("n", n)

        schema = StructType(df.schema.fields + [StructField("drop_reason", StringType()),
                                                StructField("n", IntegerType())])
        tagged = df.mapInArrow(tag, schema)
        counts = tagged.groupBy("text").agg(F.count("*").alias("copies"), F.min("id").alias("first"))
        joined = tagged.join(F.broadcast(counts), "text").withColumn(
            "status", F.when(F.col("id") == F.col("first"), "kept").otherwise("rejected"))
        joined.write.partitionBy("status").parquet(str(Path(d) / "out"))
        back = spark.read.parquet(str(Path(d) / "out"))
        back.groupBy("status").count().collect()
        back.select(F.sha2("text", 256).alias("h")).distinct().count()
        back.toArrow() if hasattr(back, "toArrow") else back.limit(5).toPandas()
    print(f"cds: jobs done at {time.perf_counter() - t0:.1f} s", flush=True)
    gateway = SparkContext._gateway
    spark.stop()
    # The JVM dumps the archive as it exits; it exits when its stdin closes (PythonGatewayServer).
    gateway.proc.stdin.close()
    rc = gateway.proc.wait(timeout=600)
    if rc != 0:
        raise SystemExit(f"the driver JVM exited with {rc} while writing {out}")
    print(f"cds: archive written at {time.perf_counter() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    dump(Path(sys.argv[1]))
