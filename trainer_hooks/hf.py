"""Hugging Face Trainer plugin: a dataset that holds the mixture schedule, and a callback that saves and restores it.

    world = int(os.environ.get("WORLD_SIZE", 1))
    sampler = MixtureSampler(mixture, block_size=512, total_steps=args.max_steps, schedule=schedule,
                             batch_size=args.per_device_train_batch_size * args.gradient_accumulation_steps * world)
    data = MixtureDataset(sampler)
    trainer = Trainer(model, args, train_dataset=data, callbacks=[MixtureCallback(sampler, data)])

The sampler's batch is the GLOBAL batch of one optimizer step and its total_steps the Trainer's max_steps, so the
schedule is the same whatever the number of ranks and the gradient accumulation.

Why a dataset and not a callback that sets weights: the Trainer's DataLoader workers are separate processes
that never see a step a callback sets in the main process (and the loader prefetches ahead of the step). So the
dataset yields the stream as a pure function of position: optimizer step t is cut into n = world x accumulation
micro-batches (`sampler.micro_batch(t, i, n)`) and the dataset yields them in order, t = 0, 1, ... and i = 0..n-1.
The DataLoader batches them per device; worker w of k yields micro-batches w, w+k, ... and the round-robin puts
them back in order. Under torchrun accelerate hands consecutive micro-batches to ranks 0..world-1 (rank 0 reads
and dispatches them, the default for an iterable dataset, or every rank reads and keeps its own with
dispatch_batches=False), so rank r's k-th micro-batch of step t is piece k*world + r, and the union over ranks
and micro-steps is exactly the schedule's batch t.

Resume: the callback reads mixture_sampler.json from the checkpoint (every rank) and the dataset starts at the
saved step. The Trainer's own fast-forward would skip those batches a second time, so the callback sets
`ignore_data_skip` when the Trainer is built (on_init_end), before any transformers version computes its skip.

A dynamic schedule (schedules.Dynamic): every `every` steps the callback measures the held-out loss per domain
(split over the ranks and all-reduced) and the sampler replans the steps after; DataLoader workers hold copies of
the sampler that would never see the new weights, so dynamic weights need dataloader_num_workers=0.

A branch (a decay off a stable checkpoint): build the sampler with start=that checkpoint's mixture_sampler.json,
the new total_steps (= the new max_steps) and the decay's schedule, and resume the Trainer from the checkpoint.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info
from transformers import TrainerCallback

from .mixture import MixtureError
from .sampler import MixtureSampler, eval_batches

STATE_FILE = "mixture_sampler.json"
log = logging.getLogger(__name__)


class MixtureDataset(IterableDataset):
    """Examples {input_ids, labels} (plus `domain` when with_domain=True: then set remove_unused_columns=False and
    pop it before the model, see examples/hf_trainer.py), micro-batch after micro-batch from the sampler's step
    `start` on. `micro_batch_size` is the Trainer's per_device_train_batch_size (the callback sets it)."""

    def __init__(self, sampler: MixtureSampler, with_domain: bool = False, micro_batch_size: int | None = None):
        self.sampler, self.with_domain = sampler, with_domain
        self.micro_batch_size = micro_batch_size or sampler.batch_size
        self.start = sampler.start_step  # first optimizer step to yield; the callback sets it on resume

    @property
    def pieces(self) -> int:
        """Micro-batches per optimizer step: world size x gradient accumulation."""
        if self.sampler.batch_size % self.micro_batch_size:
            raise MixtureError(f"the sampler's batch_size={self.sampler.batch_size} is not a multiple of the "
                               f"per-device batch {self.micro_batch_size}")
        return self.sampler.batch_size // self.micro_batch_size

    def __iter__(self):
        info = get_worker_info()
        wid, k = (info.id, info.num_workers) if info else (0, 1)
        n = self.pieces
        for c in range(self.start * n + wid, self.sampler.total_steps * n, k):
            step, i = divmod(c, n)
            x, _, dom = self.sampler.micro_batch(step, i, n)
            for row, d in zip(x, dom):
                ids = torch.from_numpy(row.copy())
                # causal-LM models in transformers shift labels themselves, so labels == input_ids
                ex = {"input_ids": ids, "labels": ids.clone()}
                if self.with_domain:
                    ex["domain"] = int(d)
                yield ex


def _world(args) -> tuple[int, int]:
    return int(getattr(args, "world_size", 1) or 1), int(getattr(args, "process_index", 0) or 0)


class MixtureCallback(TrainerCallback):
    """Checks the Trainer's settings against the sampler, saves the sampler state with every checkpoint
    (mixture_sampler.json, rank 0), restores it on resume (every rank), reports held-out losses to a dynamic
    schedule, and logs the mixture weights and epochs seen."""

    def __init__(self, sampler: MixtureSampler, dataset: MixtureDataset, eval_batches: int = 2):
        self.sampler, self.dataset, self.n_eval = sampler, dataset, eval_batches
        self._held = None

    def on_init_end(self, args, state, control, **kwargs):
        # the dataset resumes itself; transformers 4.57 and 5.x decide whether to fast-forward the DataLoader
        # from this flag when train() starts, so it is set here, before any skip is computed
        args.ignore_data_skip = True
        self.dataset.micro_batch_size = args.per_device_train_batch_size

    def on_train_begin(self, args, state, control, **kwargs):
        s = self.sampler
        args.ignore_data_skip = True  # the callback may have been added after the Trainer was built
        world, _ = _world(args)
        accum = int(args.gradient_accumulation_steps)
        self.dataset.micro_batch_size = args.per_device_train_batch_size
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched != world:
            raise MixtureError(f"{launched} processes were launched (WORLD_SIZE) but the Trainer runs world_size="
                               f"{world}, so each would train alone on the whole stream; on CPU pass use_cpu=True "
                               f"to TrainingArguments so the Trainer runs DDP over gloo")
        if args.per_device_train_batch_size * accum * world != s.batch_size:
            raise MixtureError(
                f"per_device_train_batch_size x gradient_accumulation_steps x world_size = "
                f"{args.per_device_train_batch_size} x {accum} x {world} but the sampler's global batch is "
                f"{s.batch_size}; build the sampler with batch_size={args.per_device_train_batch_size * accum * world}")
        if int(state.max_steps) != s.total_steps:
            raise MixtureError(f"the Trainer runs max_steps={state.max_steps} optimizer steps but the sampler's "
                               f"schedule spans total_steps={s.total_steps}; make them equal")
        if s.dynamic is not None and args.dataloader_num_workers:
            raise MixtureError("a dynamic schedule changes the weights during training, which DataLoader workers "
                               "(separate processes) never see; set dataloader_num_workers=0")
        if state.global_step > 0:
            path = self._checkpoint(args, state) / STATE_FILE
            if not path.exists() and s.start_step == state.global_step:
                s.step = s.start_step  # a branch: the sampler was built from that checkpoint's state already
            elif not path.exists():
                raise MixtureError(f"resuming at step {state.global_step} but {path} does not exist; resume from "
                                   f"a checkpoint saved with MixtureCallback")
            else:
                s.resume(json.loads(path.read_text()))
            log.info("mixture: resuming at step %d from %s", s.step, path)
        else:
            s.step = s.start_step
        self.dataset.start = s.step

    def _checkpoint(self, args, state) -> Path:
        given = getattr(args, "resume_from_checkpoint", None)
        if isinstance(given, str) and Path(given).is_dir():
            return Path(given)
        return Path(args.output_dir) / f"checkpoint-{state.global_step}"

    def on_step_end(self, args, state, control, model=None, **kwargs):
        s = self.sampler
        s.step = int(state.global_step)
        if not s.update_due(s.step) or model is None:
            return
        new = s.report_losses(s.step, self.heldout_losses(model, args))
        log.info("mixture: dynamic weights from step %d: %s", s.step + 1, new)

    @torch.no_grad()
    def heldout_losses(self, model, args) -> dict[str, float]:
        """Mean held-out loss per domain; the batches are split over the ranks and the sums all-reduced."""
        s = self.sampler
        if self._held is None:
            self._held = eval_batches(s.mixture, "heldout", s.block_size, args.per_device_train_batch_size,
                                      self.n_eval)
        world, rank = _world(args)
        names = s.domains
        sums = torch.zeros(2, len(names), dtype=torch.float64)
        was = model.training
        model.eval()
        device = next(model.parameters()).device
        for k, name in enumerate(names):
            for j, (x, _) in enumerate(self._held.get(name, [])):
                if j % world == rank:
                    ids = torch.from_numpy(np.ascontiguousarray(x)).to(device)
                    sums[0, k] += float(model(input_ids=ids, labels=ids).loss)
                    sums[1, k] += 1
        model.train(was)
        if world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(sums)
        return {d: float(sums[0, k] / sums[1, k]) for k, d in enumerate(names) if sums[1, k] > 0}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs is not None:
            t = min(int(state.global_step), self.sampler.total_steps - 1)
            logs.update({f"mix/{d}": round(float(v), 4) for d, v in zip(self.sampler.domains,
                                                                         self.sampler.weights_at(t))})
            logs.update({f"epochs/{d}": v for d, v in self.sampler.epochs_seen(int(state.global_step)).items()})

    def on_save(self, args, state, control, **kwargs):
        self.sampler.step = int(state.global_step)
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(self.sampler.state_dict(), indent=2))
        tmp.replace(folder / STATE_FILE)
