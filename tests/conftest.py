"""Shared fixtures: one real local SparkSession for the whole test session."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")



@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from gristmill.pipeline.spark import SparkConfig, get_spark
    s = get_spark(SparkConfig(master="local[2]", driver_memory="3g", shuffle_partitions=4),
                  checkpoint_dir=tmp_path_factory.mktemp("checkpoints"))
    yield s
    s.stop()

