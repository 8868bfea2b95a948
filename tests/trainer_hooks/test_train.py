"""The bundled loop on CPU: a few real steps of the small GPT on real documents, checkpoint and resume."""
import json
import re

import numpy as np
import pytest
import torch

from gristmill.pipeline.cli import main as cli_main
from gristmill.stages.text_tokenizer import train_tokenizer
from gristmill.trainer_hooks.mixture import MixtureError
from gristmill.trainer_hooks.schedules import MixtureWarning
from gristmill.trainer_hooks.train import TrainConfig, train

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32}


@pytest.fixture(scope="module")
def real_mixture(tmp_path_factory, make_mixture):
    """Three real domains from the committed domain-mix sample, tokenized with a BPE trained on them."""
    import gzip

    from helpers import TEST_DATA
    docs = {"code": [], "math": [], "review": []}
    with gzip.open(TEST_DATA / "domains" / "domain_mix_permissive.jsonl.gz", "rt") as fh:
        for line in fh:
            d = json.loads(line)
            if d["domain"] in docs and len(docs[d["domain"]]) < 30:
                docs[d["domain"]].append(d["text"])
    folder = tmp_path_factory.mktemp("mixture")
    tok = train_tokenizer((t for ts in docs.values() for t in ts), 400, folder / "tokenizer.json")
    arrays = {}
    for name, texts in docs.items():
        ids = [np.array(e.ids + [0]) for e in tok.encode_batch(texts)]
        arrays[name] = (np.concatenate(ids[:-5]), np.concatenate(ids[-5:]))
    return make_mixture(folder, arrays, vocab_size=tok.get_vocab_size())


def _cfg(mixture, out, **kw):
    base = dict(mixture=str(mixture), out_dir=str(out), steps=8, batch_size=4, block_size=32, model=TINY,
                lr=3e-3, warmup=2, log_every=2, eval_every=4, eval_batches=1, ckpt_every=4)
    base.update(kw)
    return TrainConfig.model_validate(base)


def _log(out):
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


def test_loss_decreases_on_repeated_data(tmp_path, make_mixture):
    text = np.tile(np.arange(50), 200)  # a short sequence repeated: easy to memorise
    path = make_mixture(tmp_path / "rep", {"rep": (text, text[:500])}, vocab_size=64)
    out = tmp_path / "run"
    summary = train(_cfg(path, out, steps=60, lr=1e-2, log_every=10, eval_every=30), quiet=True)
    losses = [r["loss"] for r in _log(out) if "loss" in r]
    assert losses[-1] < 0.5 * losses[0]
    assert summary["heldout"]["rep"] < 2.0 and summary["device"] == "cpu"


def test_per_domain_logs_checkpoint_and_plot(real_mixture, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(real_mixture, out, schedule={"upsample": {"domains": ["math"], "factor": 3, "last_fraction": 0.5}},
               lr_schedule="wsd")
    train(cfg, quiet=True)
    log = _log(out)
    train_recs = [r for r in log if "train" in r]
    evals = [r for r in log if "heldout" in r]
    assert [r["step"] for r in train_recs] == [2, 4, 6, 8]
    assert [r["step"] for r in evals] == [4, 8]
    assert set(evals[-1]["heldout"]) == {"code", "math", "review"}
    assert train_recs[0]["weights"]["math"] < train_recs[-1]["weights"]["math"]  # upsampled at the end
    assert (out / "ckpt.pt").exists() and (out / "loss.png").stat().st_size > 0


def test_resume_from_checkpoint_matches_an_uninterrupted_run(real_mixture, tmp_path):
    straight = train(_cfg(real_mixture, tmp_path / "a"), quiet=True)
    train(_cfg(real_mixture, tmp_path / "b", stop_at=4), quiet=True)
    assert torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)["step"] == 4
    resumed = train(_cfg(real_mixture, tmp_path / "b"), quiet=True)
    assert resumed["steps"] == 8
    assert resumed["heldout"] == pytest.approx(straight["heldout"], abs=1e-4)
    assert [r["step"] for r in _log(tmp_path / "b")] == [r["step"] for r in _log(tmp_path / "a")]


def test_resume_refuses_a_changed_model_or_schedule(real_mixture, tmp_path):
    train(_cfg(real_mixture, tmp_path / "c", stop_at=4), quiet=True)
    with pytest.raises(RuntimeError, match="refusing to resume.*model"):
        train(_cfg(real_mixture, tmp_path / "c", model={**TINY, "n_embd": 64}), quiet=True)
    from gristmill.trainer_hooks.mixture import MixtureError
    with pytest.raises(MixtureError, match="schedule changed"):
        train(_cfg(real_mixture, tmp_path / "c", schedule={"type": "temperature"}), quiet=True)


def test_upweight_mode_and_the_cli(real_mixture, tmp_path, capsys):
    import yaml
    cfg = _cfg(real_mixture, tmp_path / "u", steps=4, schedule={
        "upsample": {"domains": ["review"], "factor": 4, "last_fraction": 0.5}, "mode": "upweight"})
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert cli_main(["train", str(path), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 4
    # upweighting keeps sampling at the base weights during the upsampling phase
    recs = [r for r in _log(tmp_path / "u") if "weights" in r]
    assert recs[0]["weights"] == recs[-1]["weights"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**cfg.model_dump(mode="json"), "stepz": 3}))
    assert cli_main(["train", str(bad)]) == 2
    assert "stepz: unknown key" in capsys.readouterr().err


# -- without ../shared: domains in their own token-id ranges ---------------------------------------------------
def _ranged(make_mixture, folder, sizes, **kw):
    rng = np.random.default_rng(0)
    doms = {d: (rng.integers(100 * i, 100 * i + 100, n), rng.integers(100 * i, 100 * i + 100, 400))
            for i, (d, n) in enumerate(sizes.items())}
    return make_mixture(folder, doms, vocab_size=100 * len(sizes), **kw)


def test_repetition_past_max_epochs_is_caught_before_step_zero(tmp_path, make_mixture):
    # small: 16 windows of 8 tokens; at weight 0.5, 20 steps x 8 rows put ~80 rows (~5 epochs) on it
    path = _ranged(make_mixture, tmp_path / "m", {"big": 20000, "small": 129}, weights={"big": 0.5, "small": 0.5},
                   max_epochs=4.0)
    kw = dict(steps=20, batch_size=8, block_size=8, log_every=5, eval_every=20, ckpt_every=20)
    out = tmp_path / "run"
    with pytest.raises(MixtureError, match=r"small: [\d,]+ tokens = [45]\.\d+ epochs of 16 windows"):
        train(_cfg(path, out, **kw), quiet=True)
    assert not (out / "ckpt.pt").exists() and not (out / "log.jsonl").exists()  # nothing trained
    with pytest.warns(MixtureWarning, match="past max_epochs=4"):
        summary = train(_cfg(path, out, on_repeat="warn", **kw), quiet=True)
    log = _log(out)
    plan = log[0]["plan"]
    assert plan["small"]["windows"] == 16 and plan["small"]["tokens"] == plan["small"]["rows"] * 8
    assert plan["small"]["epochs"] > 4
    assert summary["epochs"]["small"] == pytest.approx(plan["small"]["epochs"], abs=1e-4)
    epochs = [r["epochs"]["small"] for r in log if "epochs" in r]
    assert epochs == sorted(epochs) and epochs[-1] == summary["epochs"]["small"]  # the log counts epochs seen
    train(_cfg(path, tmp_path / "ok", max_epochs=6, **kw), quiet=True)  # the config's cap wins over mixture's


def test_schedule_keys_a_type_ignores_are_config_errors(tmp_path, make_mixture, capsys):
    import yaml
    path = _ranged(make_mixture, tmp_path / "m", {"a": 3000, "b": 3000})
    for schedule, msg in [({"type": "temperature", "weights": {"a": 1.0}}, "ignores `weights`"),
                          ({"type": "static", "tau_start": 2.0}, "does not read \\['tau_start'\\]"),
                          ({"type": "phases"}, "needs `phases"),
                          ({"sampling": "natural"}, "only read with mode: upweight")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump({"mixture": str(path), "schedule": schedule}))
        assert cli_main(["train", str(bad)]) == 2
        err = capsys.readouterr().err
        assert re.search(msg, err), err


def test_phases_from_the_train_config(tmp_path, make_mixture):
    path = _ranged(make_mixture, tmp_path / "m", {"a": 6000, "b": 6000})
    sched = {"type": "phases", "phases": [
        {"start": 0.0, "end": 0.5, "type": "static", "weights": {"a": 1.0, "b": 0.0}},
        {"start": 0.5, "end": 1.0, "type": "static", "weights": {"a": 0.0, "b": 1.0}}]}
    out = tmp_path / "run"
    train(_cfg(path, out, steps=8, batch_size=4, block_size=8, log_every=1, schedule=sched), quiet=True)
    shares = [r["weights"]["b"] for r in _log(out) if "weights" in r]
    assert shares == [0.0] * 4 + [1.0] * 4
    trained = [set(r["train"]) for r in _log(out) if "train" in r]
    assert trained == [{"a"}] * 4 + [{"b"}] * 4


def test_upweighting_is_a_general_option(tmp_path, make_mixture):
    """mode: upweight with a temperature target: sample naturally, weight losses by target/natural."""
    from gristmill.trainer_hooks.mixture import load_mixture
    from gristmill.trainer_hooks.train_config import ScheduleSpec
    path = _ranged(make_mixture, tmp_path / "m", {"a": 9000, "b": 1000})
    m = load_mixture(path)
    sched = ScheduleSpec.model_validate({"type": "temperature", "tau_start": 2.0, "tau_end": 2.0,
                                         "mode": "upweight"}).build(m)
    assert sched.weights_at(0, 10) == pytest.approx({"a": 0.9, "b": 0.1})  # natural sampling
    assert sched.loss_weights_at(0, 10) == pytest.approx({"a": 0.75 / 0.9, "b": 0.25 / 0.1})
    out = tmp_path / "run"
    train(_cfg(path, out, steps=4, batch_size=4, block_size=8, schedule={
        "type": "temperature", "tau_start": 2.0, "mode": "upweight"}), quiet=True)
    assert all(r["weights"] == {"a": 0.9, "b": 0.1} for r in _log(out) if "weights" in r)
