"""Dynamic batch loading (Sheared-LLaMA, Xia et al. 2023, Algorithm 1): the update against the paper's equation
written out here, the weights moving toward the domain whose loss lags its reference in the bundled loop and in
the Hugging Face Trainer, and resumed runs identical to straight ones (the weight history is sampler state)."""
import json
import math

import numpy as np
import pytest

from gristmill.trainer_hooks.sampler import MixtureSampler
from gristmill.trainer_hooks.schedules import Dynamic, ScheduleError
from gristmill.trainer_hooks.train import TrainConfig, train


def paper_update(w: dict, loss: dict, ref: dict, eta: float = 1.0, c: float = 0.0) -> dict:
    """Algorithm 1 of the paper: delta = max(l - l_ref, 0); alpha = w * exp(eta * delta); w = alpha / sum(alpha);
    then the released code's smoothing (1 - c) w + c / k (c = 0: none)."""
    alpha = {d: w[d] * math.exp(eta * max(loss[d] - ref[d], 0.0)) for d in w}
    total = sum(alpha.values())
    return {d: (1 - c) * a / total + c / len(w) for d, a in alpha.items()}


def test_update_is_the_papers_equation():
    dyn = Dynamic({"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 2.0, "b": 3.0, "c": 1.0}, every=10, eta=0.7)
    loss = {"a": 3.5, "b": 2.0, "c": 1.25}  # a lags by 1.5, b is ahead (clipped to 0), c lags by 0.25
    assert dyn.update(10, loss) == 11  # measured after 10 steps, serves from step 11 on
    want = paper_update({"a": 0.5, "b": 0.3, "c": 0.2}, loss, dyn.reference, 0.7)
    assert dyn.weights_at(11, 100) == pytest.approx(want, rel=1e-12)
    assert dyn.weights_at(10, 100) == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.2})  # the past is kept
    # by hand for a: 0.5 e^1.05 / (0.5 e^1.05 + 0.3 + 0.2 e^0.175)
    a = 0.5 * math.exp(1.05) / (0.5 * math.exp(1.05) + 0.3 + 0.2 * math.exp(0.175))
    assert dyn.weights_at(11, 100)["a"] == pytest.approx(a, rel=1e-12)
    loss2 = {"a": 2.1, "b": 2.5, "c": 2.0}
    dyn.update(20, loss2)
    assert dyn.weights_at(25, 100) == pytest.approx(paper_update(want, loss2, dyn.reference, 0.7), rel=1e-12)
    smooth = Dynamic({"a": 0.5, "b": 0.5}, {"a": 0.0, "b": 0.0}, every=1, smoothing=1e-4)
    smooth.update(1, {"a": 50.0, "b": 0.0})  # without smoothing b would fall to ~2e-22
    assert smooth.weights_at(2, 10) == pytest.approx(paper_update({"a": .5, "b": .5}, {"a": 50., "b": 0.},
                                                                  {"a": 0., "b": 0.}, 1.0, 1e-4), rel=1e-9)
    with pytest.raises(ScheduleError, match="no loss for domain"):
        Dynamic({"a": 0.5, "b": 0.5}, {"a": 1.0}, every=5)


@pytest.fixture(scope="module")
def mixture(tmp_path_factory, make_mixture):
    rng = np.random.default_rng(0)
    doms = {d: (rng.integers(100 * i, 100 * i + 100, 9000), rng.integers(100 * i, 100 * i + 100, 600))
            for i, d in enumerate(["a", "b"])}
    return make_mixture(tmp_path_factory.mktemp("dyn"), doms, vocab_size=200, weights={"a": 0.5, "b": 0.5})


def test_sampler_replans_after_an_update_and_resumes_the_history(mixture):
    def sampler():
        return MixtureSampler(mixture, batch_size=32, block_size=8, total_steps=12, seed=1,
                              schedule=Dynamic({"a": .5, "b": .5}, {"a": 0., "b": 9.}, every=4))
    s = sampler()
    before = [s.batch(t)[2].copy() for t in range(12)]
    assert s.report_losses(3, {"a": 5.0, "b": 5.0}) is None  # not due
    new = s.report_losses(4, {"a": 5.0, "b": 5.0})
    assert new["a"] > 0.99  # a lags its reference by 5, b is ahead of its own
    after = [s.batch(t)[2] for t in range(12)]
    assert all((p == q).all() for p, q in zip(before[:5], after[:5]))  # steps up to 4 unchanged
    assert all(np.mean(d == 0) > 0.9 for d in after[5:])
    s.step = 6
    r = sampler()
    r.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert all((r.batch(t)[0] == s.batch(t)[0]).all() for t in range(6, 12))


def _cfg(mixture, out, **kw):
    base = dict(mixture=str(mixture), out_dir=str(out), steps=8, batch_size=8, block_size=8,
                model={"n_layer": 1, "n_head": 2, "n_embd": 16}, lr=3e-3, warmup=1, log_every=1, eval_every=100,
                eval_batches=1, ckpt_every=4, seed=2,
                schedule={"type": "dynamic", "every": 2, "eta": 0.5, "reference": {"a": 0.5, "b": 50.0}})
    base.update(kw)
    return TrainConfig.model_validate(base)


def _log(out):
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


def test_bundled_loop_moves_weights_toward_the_lagging_domain_and_resumes(mixture, tmp_path):
    out = tmp_path / "straight"
    train(_cfg(mixture, out), quiet=True)
    log = _log(out)
    updates = [r for r in log if "dynamic_weights" in r]
    assert [r["step"] for r in updates] == [2, 4, 6]  # `every: 2` (and not after the last step's 8: no step left)
    w = {"a": 0.5, "b": 0.5}
    for u in updates:  # each update is the paper's equation applied to the held-out loss logged at that step
        held = next(r["heldout"] for r in log if r["step"] == u["step"] and "heldout" in r)
        w = paper_update(w, held, {"a": 0.5, "b": 50.0}, 0.5)
        assert u["dynamic_weights"] == pytest.approx(w, abs=2e-6)
    share_a = [r["weights"]["a"] for r in log if "weights" in r]
    assert share_a[0] == 0.5 and share_a == sorted(share_a) and share_a[-1] > 0.9  # a lags: it gains weight
    assert (out / "weights.png").stat().st_size > 0
    # killed at step 4, resumed: the same weights and the same rows
    killed = tmp_path / "killed"
    train(_cfg(mixture, killed, stop_at=4), quiet=True)
    train(_cfg(mixture, killed), quiet=True)
    keep = ("weights", "rows_digest", "dynamic_weights", "heldout")
    assert [{k: r.get(k) for k in keep} for r in _log(killed)] == [{k: r.get(k) for k in keep} for r in log]


def test_dynamic_config_errors(mixture, tmp_path):
    with pytest.raises(ValueError, match="needs `every`"):
        _cfg(mixture, tmp_path, schedule={"type": "dynamic", "reference": {"a": 1.0}})
    with pytest.raises(ValueError, match=r"does not read \['eta'\]"):
        _cfg(mixture, tmp_path, schedule={"type": "static", "eta": 1.0})
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"a": 0.5, "b": 50.0}))
    cfg = _cfg(mixture, tmp_path, schedule={"type": "dynamic", "every": 2, "reference": str(ref)})
    from gristmill.trainer_hooks.mixture import load_mixture
    from gristmill.trainer_hooks.train_config import build_schedule
    assert build_schedule(cfg.schedule, load_mixture(mixture)).reference == {"a": 0.5, "b": 50.0}
