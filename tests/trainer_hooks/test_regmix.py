"""RegMix: the regression recovers a known optimum; a tiny end-to-end run writes its table and proposal."""
import json

import numpy as np
import pytest

from gristmill.pipeline.cli import main as cli_main
from gristmill.trainer_hooks.regmix import propose, sample_mixtures
from gristmill.trainer_hooks.schedules import ScheduleError


def test_dirichlet_samples_stay_on_the_simplex_and_respect_empty_domains():
    ms = sample_mixtures({"a": 0.7, "b": 0.3, "c": 0.0}, 50, seed=1)
    assert ms[0] == pytest.approx({"a": 0.7, "b": 0.3, "c": 0.0})
    assert all(abs(sum(m.values()) - 1) < 1e-9 and m["c"] == 0 for m in ms)
    assert np.std([m["a"] for m in ms]) > 0.05
    with pytest.raises(ScheduleError):
        sample_mixtures({"a": 0.0}, 3)


@pytest.mark.parametrize("prefer", ["lightgbm", "sklearn"])
def test_regression_finds_the_domain_that_lowers_the_loss(prefer):
    names = ["a", "b", "c"]
    natural = {"a": 0.5, "b": 0.3, "c": 0.2}
    X = np.array([[m[d] for d in names] for m in sample_mixtures(natural, 40, seed=2)])
    y = 3.0 - 2.0 * X[:, 2] + 0.1 * X[:, 0]  # more of c is better
    out = propose(X, y, names, natural, n_candidates=2000, top_k=20, prefer=prefer)
    assert out["regressor"] == prefer
    assert out["proposal"]["c"] > 0.5 and out["predicted_target"] < y.min() + 0.2


def test_regmix_command_end_to_end(tmp_path, capsys, make_mixture):
    import yaml
    rng = np.random.default_rng(0)
    doms = {d: (rng.integers(lo, lo + 20, 4000), rng.integers(lo, lo + 20, 400))
            for d, lo in (("a", 0), ("b", 20))}
    mix = make_mixture(tmp_path / "mix", doms, vocab_size=40)
    cfg = {"mixture": str(mix), "batch_size": 4, "block_size": 16, "model": {"n_layer": 1, "n_head": 2, "n_embd": 16},
           "eval_batches": 1, "log_every": 5, "eval_every": 5, "ckpt_every": 5}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "regmix"
    assert cli_main(["regmix", str(path), "--out", str(out), "-k", "4", "--steps", "5", "--target", "b",
                     "--quiet"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "regmix.json").read_text())
    assert len(saved["proxies"]) == 4 and saved["proposal"] == printed["proposal"]
    assert sum(saved["proposal"].values()) == pytest.approx(1.0, abs=1e-5)
    assert "**proposal**" in (out / "regmix.md").read_text()
    assert cli_main(["regmix", str(path), "--out", str(out), "--target", "zzz", "-k", "2", "--steps", "2"]) == 2
    assert "not in the mixture" in capsys.readouterr().err
