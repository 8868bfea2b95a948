"""The one place that builds the SparkSession."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .spark_cds import java_options

_LOG4J = Path(__file__).with_name("log4j2.properties")


class SparkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    master: str = Field("local[*]", description="Spark master URL; ignored when a session or spark-submit set one")
    driver_memory: str = "6g"
    shuffle_partitions: int = Field(16, ge=1)
    arrow_batch_rows: int = Field(2048, ge=1)
    ui: bool = False
    log_level: str = "ERROR"
    conf: dict[str, str] = Field(default_factory=dict, description="any other spark.* settings, passed through; "
                                 "spark.driver.extraJavaOptions is appended to gristmill's own")
    class_archive: bool = Field(True, description="start the driver JVM from the class-data-sharing archive "
                                "(`python -m gristmill.pipeline.spark_cds`) when one was built; about half the "
                                "JVM's start. GRISTMILL_SPARK_CDS=0 also turns it off")
    jit: Literal["auto", "quick", "full"] = Field(
        "auto", description="the driver JVM's compiler when gristmill starts it: quick = C1 only "
        "(-XX:TieredStopAtLevel=1), full = the JVM's default tiered C1+C2. auto = quick for a local master on a "
        "machine of at most 4 cores, where C2's compiler threads take cores from the work for the first minutes "
        "(cold MinHash LSH runs on 2 cores: 29% shorter at 5k documents, 28% at 100k, warm runs at 5k no slower); "
        "full otherwise. Set full for local runs of hours, where C2's faster code pays for its compiling")


def get_spark(cfg: SparkConfig | None = None, checkpoint_dir: str | Path | None = None,
              log_file: str | Path | None = None):
    """Return the active SparkSession, or build one tuned for a small machine.

    Under spark-submit (or when a notebook already made a session) the existing master and
    settings win; we only add what gristmill needs (Arrow, worker Python). With log_file (--quiet), the
    JVM we start writes its banner and logs there instead of the terminal."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    cfg = cfg or SparkConfig()
    # Workers must run this interpreter, or they miss the venv's pyarrow/fasttext.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    spark = SparkSession.getActiveSession()
    if spark is None:
        from pyspark import SparkContext
        # Only a JVM we launch ourselves takes options; spark-submit's or a notebook's is already up.
        launches_jvm = SparkContext._gateway is None and "PYSPARK_GATEWAY_PORT" not in os.environ
        b = SparkSession.builder.appName("gristmill")
        if "PYSPARK_GATEWAY_PORT" in os.environ:
            # Under spark-submit the JVM is already up and holds --master/--conf as system properties.
            SparkContext._ensure_initialized()
        preset = SparkConf()
        if not preset.contains("spark.master"):
            b = b.master(cfg.master)
        settings = {
            "spark.driver.memory": cfg.driver_memory,
            "spark.sql.shuffle.partitions": str(cfg.shuffle_partitions),
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.execution.arrow.maxRecordsPerBatch": str(cfg.arrow_batch_rows),
            "spark.sql.adaptive.enabled": "true",
            "spark.ui.enabled": "true" if cfg.ui else "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.python.worker.reuse": "true",
            "spark.pyspark.python": sys.executable,
            "spark.driver.extraJavaOptions": " ".join(_driver_java_options(cfg, launches_jvm,
                                                                           preset.get("spark.master", cfg.master))),
            # snappy writes ~3x faster than zstd here; stage outputs are working data, not archives
            "spark.sql.parquet.compression.codec": "snappy",
            # kept/rejected are written in one pass; concurrent writers avoid sorting every row by status
            "spark.sql.maxConcurrentOutputFileWriters": "4",
        }
        settings.update({k: v for k, v in cfg.conf.items() if k != "spark.driver.extraJavaOptions"})
        for k, v in settings.items():
            if not preset.contains(k):
                b = b.config(k, v)
        spark = _start_quietly(b, log_file) if log_file else b.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.log_level)
    if checkpoint_dir is not None:
        spark.sparkContext.setCheckpointDir(str(checkpoint_dir))
    return spark


def _driver_java_options(cfg: SparkConfig, launches_jvm: bool, master: str | None = None) -> list[str]:
    """gristmill's log4j file, the class archive when one fits, then the user's own options (later ones win)."""
    opts = [f"-Dlog4j.configurationFile=file:{_LOG4J}"]
    if launches_jvm and cfg.class_archive:
        opts += java_options()
    if launches_jvm and quick_jit(cfg, master):
        opts.append("-XX:TieredStopAtLevel=1")
    if cfg.conf.get("spark.driver.extraJavaOptions"):
        opts.append(cfg.conf["spark.driver.extraJavaOptions"])
    return opts


def quick_jit(cfg: SparkConfig, master: str | None = None) -> bool:
    """Whether the driver JVM runs with C1 only (see SparkConfig.jit); master: the one it will run, when a
    preset (spark-submit's --master) overrides the config's."""
    if cfg.jit != "auto":
        return cfg.jit == "quick"
    return (master or cfg.master).startswith("local") and (os.cpu_count() or 1) <= 4


def _start_quietly(builder, log_file: str | Path):
    """Start the JVM with its stderr on log_file: the child inherits fd 2, ours is restored right after."""
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 2)
        return builder.getOrCreate()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)
