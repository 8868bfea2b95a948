"""Several ranks for real: `torchrun --nproc_per_node 2` on CPU (gloo) runs the bundled loop and the Hugging Face
plugin; per step, the tokens per domain and the rows trained on (an order-free digest for the loop, the rows
themselves for the Trainer) equal one process's, straight and across a kill and resume."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO

from gristmill.trainer_hooks.train import TrainConfig, train

TORCHRUN = Path(sys.executable).parent / "torchrun"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16}


@pytest.fixture(scope="module")
def mixture(tmp_path_factory, make_mixture):
    rng = np.random.default_rng(0)
    doms = {d: (rng.integers(100 * i, 100 * i + 100, n), rng.integers(100 * i, 100 * i + 100, 400))
            for i, (d, n) in enumerate({"code": 8000, "math": 3000, "web": 12000}.items())}
    return make_mixture(tmp_path_factory.mktemp("ddp"), doms, vocab_size=300)


def _torchrun(*args, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_"))}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "tests"))
    r = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return r


def _cfg(mixture, out, **kw):
    base = dict(mixture=str(mixture), out_dir=str(out), steps=6, batch_size=8, block_size=8, model=TINY, lr=3e-3,
                warmup=1, log_every=1, eval_every=100, eval_batches=2, ckpt_every=3, seed=3)
    base.update(kw)
    return TrainConfig.model_validate(base)


def _per_step(out):
    recs = [json.loads(x) for x in (Path(out) / "log.jsonl").read_text().splitlines()]
    return {r["step"]: (r["domain_tokens"], r["rows_digest"]) for r in recs if "domain_tokens" in r}


def _yaml(cfg, path):
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


def test_bundled_loop_two_ranks_see_the_one_process_batches_and_resume(mixture, tmp_path):
    one = _per_step(train(_cfg(mixture, tmp_path / "one"), quiet=True)["out_dir"])
    assert sorted(one) == list(range(1, 7)) and all(sum(t.values()) == 8 * 8 for t, _ in one.values())
    accum = _per_step(train(_cfg(mixture, tmp_path / "accum", grad_accum=2), quiet=True)["out_dir"])
    assert accum == one  # micro-batches of one process: the same rows per step

    two = tmp_path / "two"
    _torchrun("-m", "gristmill.pipeline.cli", "train", _yaml(_cfg(mixture, two), tmp_path / "two.yaml"), "--quiet")
    assert _per_step(two) == one

    # killed after step 3 (stop_at checkpoints and exits), resumed by a new torchrun with 2 ranks x 2 micro-batches
    killed = tmp_path / "killed"
    _torchrun("-m", "gristmill.pipeline.cli", "train",
              _yaml(_cfg(mixture, killed, stop_at=3, grad_accum=2), tmp_path / "k1.yaml"), "--quiet")
    assert sorted(_per_step(killed)) == [1, 2, 3]
    _torchrun("-m", "gristmill.pipeline.cli", "train", _yaml(_cfg(mixture, killed, grad_accum=2),
                                                             tmp_path / "k2.yaml"), "--quiet")
    assert _per_step(killed) == one


def _seen(folder, ranks):
    """{step: sorted rows} from the per-rank recordings of hf_ddp_script.py (union over ranks and micro-steps)."""
    out: dict[int, list] = {}
    for r in range(ranks):
        for line in (Path(folder) / f"seen-rank{r}.jsonl").read_text().splitlines():
            rec = json.loads(line)
            out.setdefault(rec["step"], []).extend(map(tuple, rec["rows"]))
    return {s: sorted(v) for s, v in out.items()}


def test_hf_trainer_two_ranks_union_is_the_schedule_and_resumes(mixture, tmp_path):
    pytest.importorskip("accelerate")
    from gristmill.trainer_hooks.sampler import MixtureSampler
    ref = MixtureSampler(mixture, batch_size=8, block_size=8, total_steps=6, seed=3)
    want = {t: sorted(map(tuple, ref.batch(t)[0].tolist())) for t in range(6)}
    script = REPO / "tests" / "trainer_hooks" / "hf_ddp_script.py"
    _torchrun(script, mixture, tmp_path / "two", "--accum", 2, timeout=180)
    assert _seen(tmp_path / "two", 2) == want
    import transformers
    if int(transformers.__version__.split(".")[0]) < 5:
        # transformers 4.57's Trainer loads its own optimizer state with map_location=args.device, which is
        # "cpu:0" under CPU DDP and which torch cannot restore to: its resume fails before our callback runs
        # (GPU ranks, cuda:N, are not affected). One-process resume on 4.57 is tested in test_hf.py.
        pytest.skip("transformers 4.x cannot resume a CPU DDP Trainer (its optimizer load, map_location='cpu:0')")
    _torchrun(script, mixture, tmp_path / "killed", "--stop-at", 3, timeout=180)
    _torchrun(script, mixture, tmp_path / "killed", "--resume", timeout=180)
    assert _seen(tmp_path / "killed", 2) == want


def test_dynamic_weights_with_two_ranks_all_reduce_the_heldout_loss(mixture, tmp_path):
    """Each rank evaluates half of the held-out batches; the all-reduced losses, and so the weights, are the ones
    one process computes (up to float summation order)."""
    sched = {"type": "dynamic", "every": 3, "eta": 0.5, "reference": {"code": 0.5, "math": 50.0, "web": 50.0}}
    kw = dict(steps=5, eval_batches=4, schedule=sched)
    train(_cfg(mixture, tmp_path / "one", **kw), quiet=True)
    _torchrun("-m", "gristmill.pipeline.cli", "train", _yaml(_cfg(mixture, tmp_path / "two", **kw),
                                                             tmp_path / "two.yaml"), "--quiet")

    def first_update(out):
        recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
        held = next(r["heldout"] for r in recs if "heldout" in r)
        return held, next(r["dynamic_weights"] for r in recs if "dynamic_weights" in r)
    (h1, w1), (h2, w2) = first_update(tmp_path / "one"), first_update(tmp_path / "two")
    assert h2 == pytest.approx(h1, abs=1e-4) and w2 == pytest.approx(w1, abs=1e-4)
    assert w1["code"] > 0.5  # code lags its reference: it gained weight
