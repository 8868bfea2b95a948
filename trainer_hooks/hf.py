"""Hugging Face Trainer hook: feed the Trainer a MixtureExamples dataset and add MixtureCallback(sampler)."""
from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

from .sampler import MixtureSampler


class MixtureCallback(TrainerCallback):
    """Switches mixture weights on schedule inside a transformers Trainer and saves the sampler state with
    each checkpoint (mixture_sampler.json), so a resumed Trainer continues the same schedule."""

    def __init__(self, sampler: MixtureSampler):
        self.sampler = sampler

    def on_train_begin(self, args, state, control, **kwargs):
        if state.max_steps and state.max_steps > 0 and state.max_steps != self.sampler.total_steps:
            self.sampler.total_steps = int(state.max_steps)
        self.sampler.step = int(state.global_step)

    def on_step_begin(self, args, state, control, **kwargs):
        self.sampler.step = int(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None:
            w = self.sampler.weights_at(min(state.global_step, self.sampler.total_steps - 1))
            logs.update({f"mix/{d}": round(float(v), 4) for d, v in zip(self.sampler.domains, w)})

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "mixture_sampler.json").write_text(json.dumps(self.sampler.state_dict(), indent=2))
