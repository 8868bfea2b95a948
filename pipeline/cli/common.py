"""What `gristmill embed` and `gristmill select` share: finding a run's stage and a Spark session."""
from __future__ import annotations

from pathlib import Path

from gristmill.pipeline.rundir import RunDir
from gristmill.pipeline.stage import StageError


def stage_kept(run: str, stage: str | None) -> tuple[Path, Path, dict]:
    """(run dir, the stage's kept/ folder, manifest) for the named stage, or the last finished one."""
    rd = RunDir(run)
    run_dir = rd.path
    manifest = rd.manifest()
    done = rd.finished(manifest)
    if not done:
        raise StageError(f"{run_dir} has no finished stage yet; run `gristmill run CONFIG` first")
    if stage is None:
        chosen = done[-1]
    else:
        match = [s for s in done if stage in (s["name"], s["dir"])]
        if not match:
            raise StageError(f"stage {stage!r} is not a finished stage of {run_dir}; finished: "
                             f"{', '.join(s['dir'] for s in done)}")
        chosen = match[-1]
    return run_dir, rd.kept(chosen["dir"]), manifest


def spark_for(manifest: dict):
    from gristmill.pipeline.spark import SparkConfig, get_spark
    cfg = SparkConfig.model_validate((manifest.get("config") or {}).get("spark") or {})
    return get_spark(cfg)


def add_embed_arguments(p) -> None:
    p.add_argument("--model", metavar="PATH", help="local sentence-transformers folder (default all-MiniLM-L6-v2)")
    p.add_argument("--max-tokens", type=int, default=256, help="token window per document (default 256)")
    p.add_argument("--long-docs", choices=["first", "mean"], default="first",
                   help="embed the first window, or the mean of windows")
    p.add_argument("--batch-size", type=int, default=32)
