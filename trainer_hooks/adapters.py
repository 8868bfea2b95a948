"""Plug a MixtureSampler into other people's loops: a torch IterableDataset of whole batches (see hf.py for the
Hugging Face Trainer), and a check of the domain shares a loop actually saw against the schedule."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .sampler import MixtureSampler


class MixtureBatches(IterableDataset):
    """Whole batches (x, y, domain) as tensors; use DataLoader(ds, batch_size=None). Batch m is
    sampler.batch(m), so with n workers worker w yields m = start+w, start+w+n, ... and the DataLoader's
    round-robin restores the sampler's order. Resume: load the sampler state before making the DataLoader."""

    def __init__(self, sampler: MixtureSampler):
        self.sampler = sampler

    def __iter__(self):
        info = get_worker_info()
        wid, n = (info.id, info.num_workers) if info else (0, 1)
        # workers hold a copy of the sampler made when the DataLoader starts: its step is where to begin
        for step in range(self.sampler.step + wid, self.sampler.total_steps, n):
            x, y, d = self.sampler.batch(step)
            if info is None:
                self.sampler.step = step + 1
            yield torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(d)


def check_shares(sampler: MixtureSampler, seen: list, window: int, z_max: float = 4.0, start: int = 0) -> list[dict]:
    """Compare the domains a loop saw with the schedule, per window of `window` steps.

    `seen[i]` is the list of domain indices of the rows of step start + i (start > 0 after a resume). In a window
    of n rows, the count of domain d is a sum of multinomial draws with per-step probabilities p_m, whose
    variance sum p_m(1-p_m) is at most n p(1-p) for p their mean; so z = (seen - expected) / sqrt(sum p_m(1-p_m))
    is at most a binomial z-score, and |z| <= 4 fails a correct loop with probability below ~1e-4 per check. A
    domain the schedule gives probability 0 or 1 in the window must be seen exactly so. Returns one row per
    (window, domain)."""
    out = []
    for w0 in range(0, len(seen), window):
        idx = range(w0, min(w0 + window, len(seen)))
        steps = range(start + idx[0], start + idx[-1] + 1)
        rows = sum(len(seen[i]) for i in idx)
        for k, d in enumerate(sampler.domains):
            ps = [(sampler.weights_at(start + i)[k], len(seen[i])) for i in idx]
            expected = sum(p * n for p, n in ps)
            var = sum(p * (1 - p) * n for p, n in ps)
            got = sum(int(np.sum(np.asarray(seen[i]) == k)) for i in idx)
            z = (got - expected) / math.sqrt(var) if var > 0 else (0.0 if got == expected else math.inf)
            out.append({"steps": (steps[0], steps[-1]), "domain": d, "expected_share": expected / rows,
                        "seen_share": got / rows, "z": z, "ok": abs(z) <= z_max})
    return out
