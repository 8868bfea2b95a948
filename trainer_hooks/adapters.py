"""Adapters that plug a MixtureSampler into other people's loops as torch IterableDatasets (see hf.py for the
Hugging Face TrainerCallback)."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .sampler import MixtureSampler


class MixtureBatches(IterableDataset):
    """Whole batches as tensors (use DataLoader(ds, batch_size=None)). With several DataLoader workers each
    takes every n-th step; the DataLoader interleaves them round-robin, so the order is the sampler's order."""

    def __init__(self, sampler: MixtureSampler):
        self.sampler = sampler

    def __iter__(self):
        info = get_worker_info()
        wid, n = (info.id, info.num_workers) if info else (0, 1)
        for step in range(self.sampler.step + wid, self.sampler.total_steps, n):
            x, y, d = self.sampler.batch(step)
            if info is None:
                self.sampler.step = step + 1
            yield torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(d)


class MixtureExamples(IterableDataset):
    """One example per item for the Hugging Face Trainer (it batches them itself): dicts with input_ids,
    labels and domain. Weights follow `sampler.step`, which MixtureCallback keeps equal to the trainer's
    global step, so gradient accumulation and prefetching do not shift the schedule."""

    def __init__(self, sampler: MixtureSampler, seed: int = 0):
        self.sampler, self.seed = sampler, seed

    def __iter__(self):
        info = get_worker_info()
        rng = np.random.default_rng([self.sampler.seed, self.seed, info.id if info else 0])
        while True:
            step = min(self.sampler.step, self.sampler.total_steps - 1)
            x, _, d = self.sampler.draw(rng, step, 1)
            ids = torch.from_numpy(x[0].copy())
            # causal-LM models in transformers shift labels themselves, so labels == input_ids
            yield {"input_ids": ids, "labels": ids.clone(), "domain": int(d[0])}
