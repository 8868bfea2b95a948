"""Branching decays off one stable checkpoint (MiniCPM's WSD; Hägele et al. 2024): `init_from` with a new
`steps`, decay and final mixture. Each branch keeps every domain's read position, continues the stable run's data
stream until its own final mixture begins, trains, and reports; in the bundled loop and in the HF Trainer."""
import json

import numpy as np
import pytest

from gristmill.trainer_hooks.sampler import MixtureSampler
from gristmill.trainer_hooks.schedules import EndUpsample, Static
from gristmill.trainer_hooks.train import TrainConfig, train


@pytest.fixture(scope="module")
def mixture(tmp_path_factory, make_mixture):
    rng = np.random.default_rng(0)
    doms = {d: (rng.integers(100 * i, 100 * i + 100, 6000), rng.integers(100 * i, 100 * i + 100, 400))
            for i, d in enumerate(["a", "b"])}
    return make_mixture(tmp_path_factory.mktemp("branch"), doms, vocab_size=200, weights={"a": 0.7, "b": 0.3})


def _cfg(mixture, out, **kw):
    base = dict(mixture=str(mixture), out_dir=str(out), steps=12, batch_size=8, block_size=8, seed=4,
                model={"n_layer": 1, "n_head": 2, "n_embd": 16}, lr=3e-3, warmup=1, log_every=1, eval_every=100,
                eval_batches=1, ckpt_every=100, lr_schedule="wsd", wsd_decay_fraction=0.25)
    base.update(kw)
    return TrainConfig.model_validate(base)


def _log(out):
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


def _rows(out):
    return {r["step"]: (r["domain_tokens"], r["rows_digest"]) for r in _log(out) if "rows_digest" in r}


def test_two_decays_branch_from_one_stable_checkpoint(mixture, tmp_path):
    stable = tmp_path / "stable"
    train(_cfg(mixture, stable, stop_at=6), quiet=True)  # the stable phase, checkpointed at step 6
    ck = stable / "ckpt.pt"
    import torch
    at6 = torch.load(ck, weights_only=False)["sampler"]["cursors"]
    # what the stable run would have trained on had it gone on (a 24-step stable run, steps 7..24)
    cont = tmp_path / "continued"
    train(_cfg(mixture, cont, steps=24, stop_at=20), quiet=True)
    stream = _rows(cont)

    branches = {"short": dict(steps=10, schedule={"upsample": {"domains": ["b"], "factor": 3,
                                                               "last_fraction": 0.2}}),
                "long": dict(steps=16, schedule={"upsample": {"weights": {"a": 0.1, "b": 0.9},
                                                              "last_fraction": 0.25}})}
    for name, kw in branches.items():
        out = tmp_path / name
        summary = train(_cfg(mixture, out, init_from=str(ck), **kw), quiet=True)
        assert summary["steps"] == kw["steps"] and set(summary["heldout"]) == {"a", "b"}  # trains and reports
        log = _log(out)
        assert log[0]["step"] == 6 and log[0]["cursors"] == at6  # every domain's read position kept
        rows = _rows(out)
        assert sorted(rows) == list(range(7, kw["steps"] + 1))  # only the remaining steps
        decay = int(round((1 - kw["schedule"]["upsample"]["last_fraction"]) * kw["steps"]))
        # until its final mixture starts the branch trains on exactly the stable run's stream ...
        assert all(rows[s] == stream[s] for s in range(7, decay + 1))
        # ... and then on its own final mixture
        b_share = sum(rows[s][0]["b"] for s in range(decay + 1, kw["steps"] + 1)) / (8 * 8 * (kw["steps"] - decay))
        assert b_share > 0.5
        lrs = {r["step"]: r["lr"] for r in log if "lr" in r}
        assert lrs[7] == pytest.approx(3e-3) and lrs[kw["steps"]] == pytest.approx(3e-4)  # its own decay

    # a killed branch resumes as a branch (its own checkpoint first, not init_from's)
    out = tmp_path / "long-killed"
    kw = branches["long"]
    train(_cfg(mixture, out, init_from=str(ck), stop_at=9, ckpt_every=3, **kw), quiet=True)
    train(_cfg(mixture, out, init_from=str(ck), **kw), quiet=True)
    assert _rows(out) == _rows(tmp_path / "long")


def test_a_branch_before_its_checkpoint_or_on_other_windows_is_refused(mixture, tmp_path):
    s = MixtureSampler(mixture, batch_size=8, block_size=8, total_steps=6, seed=4)
    s.step = 6
    state = s.state_dict()
    from gristmill.trainer_hooks.mixture import MixtureError
    with pytest.raises(MixtureError, match="total_steps=6 must be larger"):
        MixtureSampler(mixture, batch_size=8, block_size=8, total_steps=6, seed=4, start=state)
    with pytest.raises(MixtureError, match="block_size was 8, now 16"):
        MixtureSampler(mixture, batch_size=8, block_size=16, total_steps=12, seed=4, start=state)
    b = MixtureSampler(mixture, batch_size=8, block_size=8, total_steps=12, seed=4, start=state,
                       schedule=EndUpsample(Static({"a": 0.7, "b": 0.3}), weights={"b": 1.0}, last_fraction=0.5))
    with pytest.raises(IndexError):
        b.batch(5)
    assert b.cursors(6) == state["cursors"] and b.step == 6
