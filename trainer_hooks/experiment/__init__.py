"""Does curation pay? Arms built by gristmill's own pipeline, trained at equal tokens, scored on one held-out set.

From one raw corpus, `gristmill experiment CONFIG`:

1. **split**: a pipeline run (`domain`, `dedup_exact`, `dedup_minhash`) labels every document with its duplicate
   group: the id of the exact-duplicate representative's near-duplicate cluster (its own id when it has none).
   A document is held out when the hash of that group id falls under `heldout.fraction`, so every copy and
   near-copy of a held-out document is held out with it; no arm can train on a held-out text or a near-copy
   (leakage). The held-out set keeps one document per group, so repeated licences do not dominate the score.
2. **arms**, each a `gristmill run` config written into the experiment folder (rerun one by hand to look closer):
   `raw` (the training side as read), `clean` (the `clean:` stages: langid, exact and near dedup, quality, ...),
   `clean+fl` (facility location to `select.budget`, INGENIOUS, Renduchintala et al. 2023), `clean+random` (random
   at the same document count: the control), `clean+rephrased` (the `rephrase` stage when installed, WRAP, Maini
   et al. 2024), `clean+upsample` (clean with end-of-training upsampling of one domain, Blakeney et al. 2024).
   One BPE tokenizer (trained by `raw`'s `mix` on the training side only) serves every arm and the held-out set.
3. **training**: `gristmill train` on every arm x seed at the same steps, batch and block (equal training tokens),
   the same WSD learning rate (its decay aligned with the upsampling window for every arm), evaluating on the same
   fixed held-out windows; per-domain losses are averaged over domains for the overall number (macro mean).
4. **outcome**: outcome.json / outcome.md / outcome.png under RUN/experiment/, and a section in
   `gristmill report RUN`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .arms import build_arms, eval_mixtures, rephrase_available, split
from .common import say
from .config import ABLATE_PREFIX, ARMS, DEFAULT_CLEAN, FULL, ExperimentConfig, ExperimentError, load_experiment
from .report import markdown, plot
from .stats import read_log, summarize, tokens_to_reach
from .training import pick_upsample_domain, train_arms, train_config

__all__ = ["ARMS", "DEFAULT_CLEAN", "FULL", "ExperimentConfig", "ExperimentError", "build_arms", "eval_mixtures",
           "load_experiment", "markdown", "pick_upsample_domain", "plot", "read_log", "rephrase_available",
           "run_experiment", "split", "summarize", "tokens_to_reach", "train_arms", "train_config"]


def run_experiment(cfg: ExperimentConfig, quiet: bool = False) -> Path:
    """Everything above, in order; every step resumes (finished pipeline stages and training runs are kept)."""
    if cfg.train.cpu_threads:
        # before Spark starts, so its Python workers (embedding for facility location) inherit it too
        os.environ.setdefault("OMP_NUM_THREADS", str(cfg.train.cpu_threads))
        import torch
        if not torch.cuda.is_available():
            torch.set_num_threads(cfg.train.cpu_threads)
    run_dir = (Path(cfg.runs_dir) / cfg.name).resolve()
    exp = run_dir / "experiment"
    exp.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_dir, held_dir, info = split(cfg, run_dir, exp, quiet)
    runs, held, skipped = build_arms(cfg, exp, train_dir, held_dir, quiet)
    mixtures = eval_mixtures(runs, held, cfg.train.block_size)
    up_domain = None
    if "clean+upsample" in cfg.arms:
        up_domain, why = pick_upsample_domain(cfg, mixtures["clean"])
        if why:
            skipped["clean+upsample"] = why
            say(quiet, f"arm clean+upsample skipped: {why}")
    # the upsampling arm is read against clean, so clean trains whenever it runs
    # (and every ablation arm is read against clean)
    train_mix = {a: m for a, m in mixtures.items()
                 if a in cfg.arms or a.startswith(ABLATE_PREFIX) or (a == "clean" and (up_domain or cfg.ablate))}
    logs = train_arms(cfg, exp, train_mix, up_domain, quiet)
    outcome = summarize(cfg, runs, mixtures, logs, up_domain, skipped, info)
    outcome["seconds"] = round(time.time() - t0, 1)
    (exp / "outcome.json").write_text(json.dumps(outcome, indent=2))
    (exp / "outcome.md").write_text(markdown(outcome) + "\n")
    plot(outcome, exp / "outcome.png")
    return exp
