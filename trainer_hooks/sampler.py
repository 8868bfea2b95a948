"""MixtureSampler: token batches from per-domain packed shards, domain proportions following a schedule.

Batch `step` is a pure function of (seed, step, schedule, mixture): its random generator is seeded with
[seed, step]. So the state is just the step counter, and a resumed run continues exactly the same stream.
"""
from __future__ import annotations

import numpy as np

from .mixture import Mixture, MixtureError, load_mixture, open_shards
from .schedules import ScheduleError, Static

STATE_VERSION = 1


class _DomainData:
    """One domain's shards as a pool of windows of block+1 tokens."""

    def __init__(self, name: str, arrays: list[np.ndarray], block: int):
        self.name = name
        self.arrays = [a for a in arrays if len(a) > block]
        room = np.array([len(a) - block for a in self.arrays], dtype=np.float64)
        self.p = room / room.sum() if len(room) and room.sum() > 0 else None
        self.block = block

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = np.empty((n, self.block + 1), dtype=np.int64)
        which = rng.choice(len(self.arrays), size=n, p=self.p)
        for i, k in enumerate(which):
            a = self.arrays[k]
            o = int(rng.integers(0, len(a) - self.block))
            out[i] = a[o:o + self.block + 1]
        return out


class MixtureSampler:
    def __init__(self, mixture: Mixture | str, *, batch_size: int, block_size: int, total_steps: int,
                 schedule=None, seed: int = 0, split: str = "train"):
        self.mixture = mixture if isinstance(mixture, Mixture) else load_mixture(mixture)
        self.schedule = schedule or Static(self.mixture.weights)
        self.batch_size, self.block_size, self.total_steps = batch_size, block_size, total_steps
        self.seed, self.split = seed, split
        if total_steps <= 0 or batch_size <= 0 or block_size <= 0:
            raise ScheduleError("batch_size, block_size and total_steps must all be > 0")
        self.domains = sorted(self.mixture.domains)
        self._data = {}
        for name in self.domains:
            d = self.mixture.domains[name]
            files = d.files if split == "train" else d.heldout_files
            self._data[name] = _DomainData(name, open_shards(files, self.mixture.dtype), block_size)
        self._check_schedule()
        self.step = 0

    def _check_schedule(self) -> None:
        probe = sorted({int(round(f * self.total_steps)) for f in np.linspace(0, 1, 101)})
        for step in probe:
            w = self.schedule.weights_at(min(step, self.total_steps - 1), self.total_steps)
            unknown = [d for d in w if d not in self._data]
            if unknown:
                raise MixtureError(f"schedule names domain(s) {unknown} that {self.mixture.path} does not "
                                   f"have; its domains: {self.domains}")
            empty = [d for d, v in w.items() if v > 0 and self._data[d].p is None]
            if empty:
                raise MixtureError(
                    f"domain(s) {empty} get weight at step {step} but have no {self.split} window of "
                    f"{self.block_size + 1} tokens in {self.mixture.path}; give them weight 0 or add data")

    def weights_at(self, step: int) -> np.ndarray:
        w = self.schedule.weights_at(step, self.total_steps)
        p = np.array([w.get(d, 0.0) for d in self.domains], dtype=np.float64)
        return p / p.sum()

    def draw(self, rng: np.random.Generator, step: int, n: int):
        """n rows for schedule position `step`: (x, y, domain index), int64 arrays."""
        dom = rng.choice(len(self.domains), size=n, p=self.weights_at(step))
        rows = np.empty((n, self.block_size + 1), dtype=np.int64)
        for k in np.unique(dom):
            idx = np.flatnonzero(dom == k)
            rows[idx] = self._data[self.domains[k]].draw(rng, len(idx))
        return rows[:, :-1], rows[:, 1:], dom

    def batch(self, step: int):
        return self.draw(np.random.default_rng([self.seed, step]), step, self.batch_size)

    # -- plain iterator ------------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        if self.step >= self.total_steps:
            raise StopIteration
        out = self.batch(self.step)
        self.step += 1
        return out

    # -- resume --------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"version": STATE_VERSION, "step": self.step, "seed": self.seed,
                "mixture": self.mixture.fingerprint(), "schedule": self.schedule.describe(),
                "batch_size": self.batch_size, "block_size": self.block_size, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION:
            raise MixtureError(f"sampler state version {state.get('version')!r} is not {STATE_VERSION}; "
                               f"it was saved by another gristmill version and cannot be resumed")
        if state.get("mixture") != self.mixture.fingerprint():
            raise MixtureError(
                f"refusing to resume: the checkpoint was trained on a different mixture (fingerprint "
                f"{state.get('mixture')}, now {self.mixture.fingerprint()} from {self.mixture.path}); "
                f"point the config back at the original mixture.json or start a new run")
        for key in ("seed", "batch_size", "block_size", "total_steps"):
            if state.get(key) != getattr(self, key):
                raise MixtureError(f"refusing to resume: {key} was {state.get(key)!r}, now "
                                   f"{getattr(self, key)!r}; resume with the same settings or start a new run")
        if state.get("schedule") != self.schedule.describe():
            raise MixtureError("refusing to resume: the mixture schedule changed since the checkpoint "
                               f"(was {state.get('schedule')}, now {self.schedule.describe()})")
        self.step = int(state["step"])


def eval_batches(mixture: Mixture, split: str, block_size: int, batch_size: int, n_batches: int,
                 seed: int = 1234) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Fixed windows per domain (the same ones every call) for held-out loss; domains too small are left out."""
    out = {}
    for k, name in enumerate(sorted(mixture.domains)):
        d = mixture.domains[name]
        data = _DomainData(name, open_shards(d.heldout_files if split == "heldout" else d.files, mixture.dtype),
                           block_size)
        if data.p is None:
            continue
        rng = np.random.default_rng([seed, k])
        rows = [data.draw(rng, batch_size) for _ in range(n_batches)]
        out[name] = [(r[:, :-1], r[:, 1:]) for r in rows]
    return out
