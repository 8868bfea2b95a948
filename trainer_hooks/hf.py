"""Hugging Face Trainer plugin: a dataset that holds the mixture schedule, and a callback that saves and restores it.

    sampler = MixtureSampler(mixture, batch_size=args.per_device_train_batch_size, block_size=512,
                             total_steps=args.max_steps * args.gradient_accumulation_steps, schedule=schedule)
    data = MixtureDataset(sampler)
    trainer = Trainer(model, args, train_dataset=data, callbacks=[MixtureCallback(sampler, data)])

Why a dataset and not a callback that sets weights: the Trainer's DataLoader workers are separate processes
that never see a step a callback sets in the main process (and with 0 workers the loader prefetches ahead of
the step). So the dataset computes micro-batch m as `sampler.batch(m)`, a pure function of m: worker w of n
yields micro-batches w, w+n, ... and the DataLoader's round-robin puts them back in order, so the Trainer's
m-th micro-batch is the schedule's m-th batch whatever the number of workers. On resume the callback reads
mixture_sampler.json from the checkpoint and the dataset starts at the saved micro-batch; the Trainer's own
fast-forward (which would replay every skipped batch) is turned off for this run.

One process only: with several ranks each would need its own shard of the stream (not built yet).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch.utils.data import IterableDataset, get_worker_info
from transformers import TrainerCallback

from .mixture import MixtureError
from .sampler import MixtureSampler

STATE_FILE = "mixture_sampler.json"
log = logging.getLogger(__name__)


class MixtureDataset(IterableDataset):
    """Examples {input_ids, labels} (plus `domain` when with_domain=True: then set remove_unused_columns=False and
    pop it before the model, see examples/hf_trainer.py) for micro-batches start..total-1; the
    Trainer's batch size must equal sampler.batch_size so one DataLoader batch is one sampler batch."""

    def __init__(self, sampler: MixtureSampler, with_domain: bool = False):
        self.sampler, self.with_domain = sampler, with_domain
        self.start = 0  # first micro-batch to yield; the callback sets it on resume

    def __iter__(self):
        info = get_worker_info()
        wid, n = (info.id, info.num_workers) if info else (0, 1)
        for m in range(self.start + wid, self.sampler.total_steps, n):
            x, _, dom = self.sampler.batch(m)
            for row, d in zip(x, dom):
                ids = torch.from_numpy(row.copy())
                # causal-LM models in transformers shift labels themselves, so labels == input_ids
                ex = {"input_ids": ids, "labels": ids.clone()}
                if self.with_domain:
                    ex["domain"] = int(d)
                yield ex


class MixtureCallback(TrainerCallback):
    """Checks the Trainer's settings against the sampler, saves the sampler state with every checkpoint
    (mixture_sampler.json), restores it on resume, and logs the mixture weights and epochs seen."""

    def __init__(self, sampler: MixtureSampler, dataset: MixtureDataset):
        self.sampler, self.dataset = sampler, dataset

    def _micro(self, args, state) -> int:
        return int(state.global_step) * int(args.gradient_accumulation_steps)

    def on_train_begin(self, args, state, control, **kwargs):
        s = self.sampler
        if getattr(args, "world_size", 1) > 1:
            raise MixtureError("MixtureDataset serves one process; with several ranks each would read the same "
                               "stream. Train on one process or shard the mixture per rank")
        if args.per_device_train_batch_size != s.batch_size:
            raise MixtureError(f"per_device_train_batch_size={args.per_device_train_batch_size} but the sampler "
                               f"makes batches of {s.batch_size}; make them equal")
        want = int(state.max_steps) * int(args.gradient_accumulation_steps)
        if want != s.total_steps:
            raise MixtureError(f"the Trainer runs max_steps x gradient_accumulation_steps = {want} micro-batches "
                               f"but the sampler's schedule spans total_steps={s.total_steps}; make them equal")
        if state.global_step > 0:
            folder = self._checkpoint(args, state)
            path = folder / STATE_FILE
            if not path.exists():
                raise MixtureError(f"resuming at step {state.global_step} but {path} does not exist; resume from "
                                   f"a checkpoint saved with MixtureCallback")
            s.load_state_dict(json.loads(path.read_text()))
            # the dataset resumes itself; the Trainer's fast-forward would skip these batches a second time
            args.ignore_data_skip = True
            log.info("mixture: resuming at micro-batch %d from %s", s.step, path)
        else:
            s.step = 0
        self.dataset.start = s.step

    def _checkpoint(self, args, state) -> Path:
        given = getattr(args, "resume_from_checkpoint", None)
        if isinstance(given, str) and Path(given).is_dir():
            return Path(given)
        return Path(args.output_dir) / f"checkpoint-{state.global_step}"

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None:
            m = min(self._micro(args, state), self.sampler.total_steps - 1)
            logs.update({f"mix/{d}": round(float(v), 4) for d, v in zip(self.sampler.domains,
                                                                         self.sampler.weights_at(m))})
            logs.update({f"epochs/{d}": v for d, v in self.sampler.epochs_seen(self._micro(args, state)).items()})

    def on_save(self, args, state, control, **kwargs):
        self.sampler.step = self._micro(args, state)
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STATE_FILE).write_text(json.dumps(self.sampler.state_dict(), indent=2))
