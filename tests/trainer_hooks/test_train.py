"""The bundled loop on CPU: a few real steps of the small GPT on real documents, checkpoint and resume."""
import json

import numpy as np
import pytest
import torch

from gristmill.pipeline.cli import main as cli_main
from gristmill.stages.text_tokenizer import train_tokenizer
from gristmill.trainer_hooks.mixture import write_mixture
from gristmill.trainer_hooks.train import TrainConfig, train

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32}


@pytest.fixture(scope="module")
def real_mixture(tmp_path_factory):
    """Three real domains from the committed domain-mix sample, tokenized with a BPE trained on them."""
    from helpers import TEST_DATA
    import gzip
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
    return write_mixture(folder, arrays, vocab_size=tok.get_vocab_size())


def _cfg(mixture, out, **kw):
    base = dict(mixture=str(mixture), out_dir=str(out), steps=8, batch_size=4, block_size=32, model=TINY,
                lr=3e-3, warmup=2, log_every=2, eval_every=4, eval_batches=1, ckpt_every=4)
    base.update(kw)
    return TrainConfig.model_validate(base)


def _log(out):
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


def test_loss_decreases_on_repeated_data(tmp_path):
    text = np.tile(np.arange(50), 200)  # a short sequence repeated: easy to memorise
    path = write_mixture(tmp_path / "rep", {"rep": (text, text[:500])}, vocab_size=64)
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
