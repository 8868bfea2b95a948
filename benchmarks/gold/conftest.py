"""Gold-set checks on the developers' real data (../shared/data, or $GRISTMILL_SHARED): comparisons whose pages
cannot ship with the repository (per-page licences include NC/ND). Run by hand, not by ./test.sh:

    .venv/bin/python -m pytest benchmarks/gold
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from harness import SHARED  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.exists():
        pytest.skip(f"the developers' data folder {SHARED} is not here (set GRISTMILL_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from gristmill.pipeline.spark import SparkConfig, get_spark
    s = get_spark(SparkConfig(master="local[2]", driver_memory="3g", shuffle_partitions=4),
                  checkpoint_dir=tmp_path_factory.mktemp("checkpoints"))
    yield s
    s.stop()
