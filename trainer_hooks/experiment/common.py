"""What every step of the experiment shares: running a pipeline config with the Runner, the run folder through
RunDir, mixtures through their validating reader, progress lines."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ...pipeline.rundir import RunDir
from ..mixture import load_mixture


def write_yaml(path: Path, obj: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return path


def run_pipeline(cfg_path: Path) -> Path:
    """Run one pipeline config (written beside the experiment, so a reader can rerun it with `gristmill run`)
    with the Runner in this process (one Spark session for all arms); returns its run folder."""
    from ...pipeline.runner import Runner
    return Runner(cfg_path, quiet=True).run()


def finished_stages(run_dir: Path) -> list[dict]:
    """The run's finished stages (committed with the hash the manifest records), as RunDir answers it."""
    return RunDir(run_dir).finished()


def mixture_json(path: Path) -> dict:
    """A mixture through the one validating reader (trainer_hooks/mixture.py), as its JSON fields."""
    return load_mixture(path).spec.to_json()


def say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(f"[experiment] {msg}", file=sys.stderr, flush=True)
