"""The two examples in examples/ run end to end on a tiny mixture and pass their own schedule check."""
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO


@pytest.fixture(scope="module")
def tiny_mixture(tmp_path_factory, make_mixture):
    rng = np.random.default_rng(1)
    doms = {"web": (rng.integers(0, 100, 20000), rng.integers(0, 100, 300)),
            "math": (rng.integers(100, 200, 4000), rng.integers(100, 200, 300))}
    return make_mixture(tmp_path_factory.mktemp("ex"), doms, vocab_size=200)


def _run(script, *args):
    r = subprocess.run([sys.executable, str(REPO / "examples" / script), *map(str, args)], capture_output=True,
                       text=True, timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_plain_torch_loop_example(tiny_mixture):
    out = _run("plain_torch_loop.py", "--mixture", tiny_mixture, "--steps", 16, "--batch", 16, "--block", 16,
               "--workers", 2, "--window", 8)
    assert "shares follow the schedule" in out and "math" in out


def test_hf_trainer_example_and_its_resume(tiny_mixture, tmp_path):
    common = ("--mixture", tiny_mixture, "--steps", 16, "--batch", 16, "--block", 16, "--workers", 2,
              "--window", 8, "--out", tmp_path / "hf")
    assert "shares follow the schedule" in _run("hf_trainer.py", *common)
    # resuming the finished run from its last checkpoint trains the second half again from saved state
    import shutil
    shutil.rmtree(tmp_path / "hf" / "checkpoint-16")
    out = _run("hf_trainer.py", *common, "--resume")
    assert "shares follow the schedule" in out and "(8, 15)" in out and "(0, 7)" not in out
