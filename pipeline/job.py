"""Entry file for spark-submit: `spark-submit [options] <this file> run CONFIG ...`.

The session gristmill builds then takes spark-submit's master and settings (see spark.get_spark)."""
import os
import sys

# Run as a script, this folder lands on sys.path[0], where a module could shadow the standard library.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

from gristmill.pipeline.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
