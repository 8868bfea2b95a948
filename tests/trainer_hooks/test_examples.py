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


def test_ddp_torch_loop_example_under_torchrun(tiny_mixture):
    import os
    from pathlib import Path
    r = subprocess.run([str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
                        str(REPO / "examples" / "ddp_torch_loop.py"), "--mixture", str(tiny_mixture), "--steps", "8",
                        "--batch", "16", "--block", "16", "--accum", "2", "--window", "4"],
                       capture_output=True, text=True, timeout=300,
                       env={"HF_HUB_OFFLINE": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                            "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "shares follow the schedule" in r.stdout


def test_megatron_export_example(tiny_mixture, tmp_path):
    pytest.importorskip("megatron.core")
    out = _run("megatron_export.py", "--mixture", tiny_mixture, "--out", tmp_path / "mega")
    assert out.count("identical") == 2 and "--data-path" in out


def test_hf_trainer_example_under_torchrun(tiny_mixture, tmp_path):
    import os
    from pathlib import Path
    r = subprocess.run([str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
                        str(REPO / "examples" / "hf_trainer.py"), "--mixture", str(tiny_mixture), "--steps", "8",
                        "--batch", "16", "--block", "16", "--workers", "0", "--window", "4", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300, cwd=REPO / "examples",
                       env={"HF_HUB_OFFLINE": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                            "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "shares follow the schedule" in r.stdout
