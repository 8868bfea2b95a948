"""configs/experiment.yaml's rephrase settings get answers past the checks out of the real SmolLM2-135M-Instruct.

Issue 31: with WRAP's 300-token chunks and greedy decoding, all 16 answers of the quickstart experiment looped (the
chunk, or one sentence, again and again up to max_new_tokens) and were rejected, so its clean+rephrased arm trained
on clean's text alone and measured nothing. The chunks here are Python's own documentation (pydoc_data, in every
Python), like the quickstart's python_docs domain; the checks are the stage's, looped answers still rejected.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from gristmill.stages.rephrase.backends import TransformersBackend
from gristmill.stages.rephrase.checks import loops
from gristmill.stages.rephrase.chunking import chunk_spans
from gristmill.stages.rephrase.prompts import resolve_styles
from gristmill.stages.rephrase.stage import RephraseConfig

REPO = Path(__file__).resolve().parents[3]
TOPICS = ("comparisons", "pass", "while", "assert")


def answers(settings: dict, smol_dir, counter) -> list[tuple[str | None, str]]:
    """(reason or None, answer) for the first chunk of each topic in each style, as the stage judges them."""
    from pydoc_data.topics import topics
    cfg = RephraseConfig.model_validate(settings)
    chunks = []
    for name in TOPICS:
        text = topics[name]
        a, b = chunk_spans(text, counter, cfg.max_chunk_tokens, cfg.min_chunk_tokens)[0]
        chunks.append(text[a:b])
    items = [(c, s) for c in chunks for s in resolve_styles(cfg.styles, cfg.custom_styles, cfg.system_prompt)]
    gens = TransformersBackend(smol_dir, batch_size=8, device="cpu").generate(
        [s.messages(c) for c, s in items], cfg.gen_settings())
    return [(cfg.judge(g, c, counter.counts([c])[0], s), g.text) for (c, s), g in zip(items, gens)]


def test_the_experiment_settings_get_rephrasings_past_the_checks(smol_dir, counter):
    settings = yaml.safe_load((REPO / "configs" / "experiment.yaml").read_text())["rephrase"]
    got = answers(settings, smol_dir, counter)
    kept = [text for why, text in got if why is None]
    assert kept, f"every answer was rejected: {[why for why, _ in got]}"
    assert not any(loops(text) for text in kept)
