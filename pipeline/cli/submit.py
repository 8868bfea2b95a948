"""gristmill submit CONFIG --master URL: the same pipeline on a Spark cluster through spark-submit."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..stage import StageError

HELP = "run a pipeline on a Spark cluster via spark-submit (same config, same outputs as `run`)"


def add_arguments(p):
    p.add_argument("config")
    p.add_argument("--master", required=True, help="e.g. spark://host:7077, yarn, k8s://...")
    p.add_argument("--name", help="run name")
    p.add_argument("--runs-dir", help="a path every executor can write (shared filesystem)")
    p.add_argument("--conf", action="append", default=[], metavar="K=V", help="extra Spark settings")
    p.add_argument("--executor-memory", default="2g")
    p.add_argument("--total-executor-cores", type=int)
    p.add_argument("--deploy-mode", choices=("client", "cluster"), default="client",
                   help="cluster: the driver runs on the cluster too (YARN, Kubernetes; Spark standalone does not run "
                        "Python drivers in cluster mode)")
    p.add_argument("--env-archive", metavar="TGZ",
                   help="a packed Python environment with gristmill installed (scripts/pack_env.sh builds one); "
                        "shipped with --archives so executors (and a cluster-mode driver) run its python instead of "
                        "this machine's")
    p.add_argument("--dry-run", action="store_true", help="print the spark-submit command and stop")


def spark_submit_binary() -> str:
    import pyspark
    found = shutil.which("spark-submit")
    bundled = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    return str(bundled) if bundled.exists() else (found or "spark-submit")


ENV_DIR = "gristmill_env"  # where YARN/K8s/standalone unpack --archives ...#gristmill_env in each container


def python_settings(args) -> list[str]:
    """Which Python the driver and executors run: this one (shared machine image), or the shipped archive's."""
    if not args.env_archive:
        return ["--conf", f"spark.pyspark.python={sys.executable}",
                "--conf", f"spark.pyspark.driver.python={sys.executable}"]
    archive = Path(args.env_archive)
    if not archive.is_file():
        raise StageError(f"--env-archive {archive} does not exist; build one with scripts/pack_env.sh")
    shipped = f"./{ENV_DIR}/bin/python"
    driver = shipped if args.deploy_mode == "cluster" else sys.executable
    return ["--archives", f"{archive.resolve()}#{ENV_DIR}", "--conf", f"spark.pyspark.python={shipped}",
            "--conf", f"spark.pyspark.driver.python={driver}",
            "--conf", f"spark.executorEnv.PYSPARK_PYTHON={shipped}"]


def build_command(args) -> list[str]:
    if args.deploy_mode == "cluster" and args.master.startswith("spark://"):
        raise StageError("Spark standalone cannot run a Python driver in cluster mode; use --deploy-mode client "
                         "(the default) there, or a YARN/Kubernetes master")
    cmd = [spark_submit_binary(), "--master", args.master, "--deploy-mode", args.deploy_mode,
           "--executor-memory", args.executor_memory, *python_settings(args)]
    log4j = Path(__file__).parents[1] / "log4j2.properties"
    cmd += ["--driver-java-options", f"-Dlog4j.configurationFile=file:{log4j}"]
    if args.total_executor_cores:
        cmd += ["--total-executor-cores", str(args.total_executor_cores)]
    for kv in args.conf:
        cmd += ["--conf", kv]
    cmd += [str(Path(__file__).parents[1] / "job.py"), "run", str(Path(args.config).resolve()), "--quiet"]
    if args.name:
        cmd += ["--name", args.name]
    if args.runs_dir:
        from ..storage import is_uri  # hdfs://, s3://: passed as given
        from ..storage import path as as_path
        runs = as_path(args.runs_dir)
        cmd += ["--runs-dir", args.runs_dir if is_uri(runs) else str(runs.resolve())]
    return cmd


def main(args) -> int:
    cmd = build_command(args)
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    return subprocess.call(cmd, env=env)
