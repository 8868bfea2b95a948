"""Entry file for spark-submit: `spark-submit [options] <this file> run CONFIG ...`.

The session gristmill builds then takes spark-submit's master and settings (see spark.get_spark)."""
import os
import sys

# Run as a script, this folder lands on sys.path[0], where a module could shadow the standard library.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

from gristmill.pipeline.cli import main  # noqa: E402


def announce() -> None:
    """Say where to watch the job: spark-submit's session is made here, and gristmill then reuses it."""
    from pyspark.sql import SparkSession
    sc = SparkSession.builder.getOrCreate().sparkContext
    print(f"gristmill: Spark master {sc.master}, application {sc.applicationId}, UI {sc.uiWebUrl or '(disabled)'}",
          file=sys.stderr, flush=True)


if __name__ == "__main__":
    announce()
    sys.exit(main(sys.argv[1:]))
