"""`gristmill plan-filter` names a quality setting for a rule signal's cut (rules.SIGNAL_CUTS): with only that
setting on, the stage's rule set must keep exactly the documents whose signal is at the cut or better, on real
web pages (the DCLM human-labelled sample), at a cut inside the signal's range."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from helpers import TEST_DATA

from gristmill.stages.quality.rules import RULE_SETS, SIGNAL_CUTS, Batch, signal_cut
from gristmill.trainer_hooks.experiment.plan_filter import recommendation


@pytest.fixture(scope="module")
def pages():
    with gzip.open(TEST_DATA / "quality" / "dclm_human_quality_labels_120.jsonl.gz", "rt") as fh:
        return [json.loads(line)["text"] for line in fh]


def only(rule_set: str, setting: str, value):
    """The rule set's config with every other cut off."""
    model = RULE_SETS[rule_set][1]
    off = {k: None for k, f in model.model_fields.items() if k.startswith(("min_", "max_", "dup_"))
           and f.annotation in (int | None, float | None)}
    off |= {k: [] for k in ("top_ngrams", "dup_ngrams") if k in model.model_fields}
    return model(**(off | {setting: value}))


@pytest.mark.parametrize("signal", sorted(SIGNAL_CUTS))
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_the_named_setting_keeps_exactly_the_documents_at_the_cut_or_better(pages, signal, higher_is_better):
    rule_set = SIGNAL_CUTS[signal][0]
    batch = Batch(pages)
    values = RULE_SETS[rule_set][0](batch, RULE_SETS[rule_set][1]())[0][signal]  # signals ignore the cuts
    keep_from = float(np.quantile(values, 0.5))
    cut = signal_cut(signal, keep_from, higher_is_better)
    if cut is None:
        assert SIGNAL_CUTS[signal][1 if higher_is_better else 2] is None
        return
    _, setting, value = cut
    _, reasons = RULE_SETS[rule_set][0](batch, only(rule_set, setting, value))
    kept = np.array([r is None for r in reasons])
    expected = values >= keep_from if higher_is_better else values <= keep_from
    assert 0 < kept.sum() < len(pages) or signal.startswith("gopher_dup")  # a real cut, where the pages vary
    assert (kept == expected).all(), f"{setting}={value}: {int((kept != expected).sum())} documents differ"


def test_the_plan_recommends_the_setting_or_else_the_cut_itself():
    best = {"epochs": 1.234, "top_fraction": 0.5, "score_threshold": 0.148}
    r = {"score": "fineweb_line_punct_ratio", "higher_is_better": True}
    assert recommendation(r, best) == {"mix": {"max_epochs": 1.24},
                                       "quality": {"fineweb": {"min_line_punct_ratio": 0.148}}}
    odd = recommendation({"score": "gopher_hash_ratio", "higher_is_better": False}, best)
    assert odd["score_threshold"] == {"column": "gopher_hash_ratio", "keep_from": 0.148, "top_fraction": 0.5}
    clf = recommendation({"score": "quality_score", "higher_is_better": True}, best)
    assert clf["quality"] == {"classifier": {"top_fraction": 0.5}}
