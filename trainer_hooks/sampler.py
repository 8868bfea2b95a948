"""MixtureSampler: token batches from per-domain packed shards, domain proportions following a schedule.

Each domain's shards are cut into windows of block+1 tokens at a stride of `block` (so every token but a
shard's last is an input exactly once per pass). The sampler walks each domain's windows as a seeded
permutation per epoch: no window repeats before every window of its domain has been seen, and one nominal
epoch covers 100% of them ("To Repeat or Not To Repeat", Xue et al. 2023, counts repetitions in exactly these
epochs). How many rows each domain gets at each step is drawn once, up front, from the schedule
(multinomial, seeded with [seed, step]); so the plan of tokens and epochs per domain is known before step 0,
and batch `step` is a pure function of (seed, step, schedule, mixture) that any DataLoader worker can compute.
The state (step, per-domain cursor and epoch) is saved with checkpoints and checked on resume.

Several ranks and gradient accumulation: `batch_size` is the GLOBAL batch of one optimizer step. Its rows are cut
into `world x accum` micro-batches (`micro_batch(step, i, n)`, a seeded permutation of the rows cut in n equal
pieces), so the union of what every rank trains on at step t is batch t, whatever the world size.

Two things change the plan after step 0: a schedule whose weights follow the loss (`schedules.Dynamic`: `replan`
redraws the rows of the steps after an update, and its weight history travels in the state), and a branch
(`start=`: a run that continues from a checkpoint's per-domain read positions with a new total_steps and
schedule; it plans only the steps from there on).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .mixture import Mixture, MixtureError, load_mixture, open_shards
from .schedules import ScheduleError, Static, find_dynamic

STATE_VERSION = 3


class _Windows:
    """One domain's shards as an indexable set of windows of block+1 tokens, stride block."""

    def __init__(self, arrays: list[np.ndarray], block: int):
        self.arrays = [a for a in arrays if len(a) > block]
        per = np.array([(len(a) - 1) // block for a in self.arrays], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(per)])  # window index where each array starts
        self.n = int(self.first[-1])
        self.block = block

    def read(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.block + 1), dtype=np.int64)
        which = np.searchsorted(self.first, idx, side="right") - 1
        for i, (j, k) in enumerate(zip(idx, which)):
            o = int(j - self.first[k]) * self.block
            out[i] = self.arrays[k][o:o + self.block + 1]
        return out


class MixtureSampler:
    def __init__(self, mixture: Mixture | str, *, batch_size: int, block_size: int, total_steps: int,
                 schedule=None, seed: int = 0, split: str = "train", start: dict | None = None):
        self.mixture = mixture if isinstance(mixture, Mixture) else load_mixture(mixture)
        self.schedule = schedule or Static(self.mixture.weights)
        self.batch_size, self.block_size, self.total_steps = batch_size, block_size, total_steps
        self.seed, self.split = seed, split
        if total_steps <= 0 or batch_size <= 0 or block_size <= 0:
            raise ScheduleError("batch_size, block_size and total_steps must all be > 0")
        self.domains = sorted(self.mixture.domains)
        self._data = []
        for name in self.domains:
            d = self.mixture.domains[name]
            self._data.append(_Windows(open_shards(d.files if split == "train" else d.heldout_files,
                                                   self.mixture.dtype), block_size))
        self.windows = np.array([w.n for w in self._data], dtype=np.int64)
        self.start_step, self.start_rows = self._branch_point(start)
        self._plan_rows()
        self._perms: OrderedDict = OrderedDict()
        self.step = self.start_step

    def _branch_point(self, start: dict | None) -> tuple[int, np.ndarray]:
        """(first step, rows of each domain read before it): (0, zeros) for a fresh run; for a branch the
        checkpoint's step and per-domain read positions (epoch x windows + position)."""
        zeros = np.zeros(len(self.domains), dtype=np.int64)
        if start is None:
            return 0, zeros
        for key in ("mixture", "seed", "block_size"):  # read positions only mean something for the same windows
            mine = self.mixture.fingerprint() if key == "mixture" else getattr(self, key)
            if key in start and start[key] != mine:
                raise MixtureError(f"cannot branch: the checkpoint's {key} was {start[key]!r}, now {mine!r}; "
                                   f"branch with the same mixture, seed and block_size")
        step, cursors = int(start["step"]), start["cursors"]
        if set(cursors) != set(self.domains):
            raise MixtureError(f"cannot branch: the checkpoint's domains {sorted(cursors)} are not this mixture's "
                               f"{self.domains}")
        if not 0 <= step < self.total_steps:
            raise MixtureError(f"cannot branch at step {step}: the new total_steps={self.total_steps} must be "
                               f"larger than the checkpoint's step")
        rows = np.array([cursors[d]["epoch"] * n + cursors[d]["position"] for d, n in
                         zip(self.domains, self.windows)], dtype=np.int64)
        return step, rows

    # -- the plan: rows per domain per step, drawn before step 0 --------------------------------------
    def _plan_rows(self, first: int | None = None) -> None:
        """Draw the rows per domain of every step from `first` on (default: the whole run)."""
        first = self.start_step if first is None else first
        if first == self.start_step or not hasattr(self, "counts"):
            counts = np.zeros((self.total_steps, len(self.domains)), dtype=np.int64)
        else:
            counts = self.counts.copy()
        for step in range(first, self.total_steps):
            p = self.weights_at(step)
            empty = [self.domains[k] for k in np.flatnonzero((p > 0) & (self.windows == 0))]
            if empty:
                raise MixtureError(
                    f"domain(s) {empty} get weight at step {step} but have no {self.split} window of "
                    f"{self.block_size + 1} tokens in {self.mixture.path}; give them weight 0 or add data")
            counts[step] = np.random.default_rng([self.seed, step]).multinomial(self.batch_size, p)
        self.counts = counts
        # cursor[s, d]: rows of domain d drawn before step s (a branch starts from the checkpoint's positions)
        self.cursor = self.start_rows + np.vstack([np.zeros((1, len(self.domains)), dtype=np.int64),
                                                   np.cumsum(counts, axis=0)])

    def replan(self, first: int) -> None:
        """The schedule's weights changed from step `first` on (a dynamic update): redraw those steps' rows.
        Each step's draw is seeded by (seed, step), so the plan is a function of the weight history."""
        self._last = (None,)
        if first < self.total_steps:
            self._plan_rows(max(first, self.start_step))

    def weights_at(self, step: int) -> np.ndarray:
        w = self.schedule.weights_at(step, self.total_steps)
        unknown = [d for d in w if d not in self.mixture.domains]
        if unknown:
            raise MixtureError(f"schedule names domain(s) {unknown} that {self.mixture.path} does not "
                               f"have; its domains: {self.domains}")
        p = np.array([w.get(d, 0.0) for d in self.domains], dtype=np.float64)
        return p / p.sum()

    def plan(self, steps: int | None = None) -> dict[str, dict]:
        """Per domain: rows, tokens (rows x block) and epochs (rows / windows) over the first `steps` steps
        (default: all), upsampling and every schedule phase included."""
        rows = self.cursor[self.total_steps if steps is None else min(steps, self.total_steps)]
        return {d: {"rows": int(r), "tokens": int(r) * self.block_size, "windows": int(n),
                    "epochs": (float(r) / n if n else 0.0)} for d, r, n in zip(self.domains, rows, self.windows)}

    def epochs_seen(self, step: int | None = None) -> dict[str, float]:
        at = self.step if step is None else step
        return {d: round(v["epochs"], 6) for d, v in self.plan(at).items()}

    # -- batches -------------------------------------------------------------------------------------
    def _perm(self, k: int, epoch: int) -> np.ndarray:
        key = (k, epoch)
        if key not in self._perms:
            self._perms[key] = np.random.default_rng([self.seed, 1, k, epoch]).permutation(self.windows[k])
            if len(self._perms) > 2 * len(self.domains):
                self._perms.popitem(last=False)
        return self._perms[key]

    def batch(self, step: int):
        """Batch `step`: (x, y, domain index), int64 arrays; rows grouped by domain."""
        if not self.start_step <= step < self.total_steps:
            raise IndexError(f"step {step} is outside [{self.start_step}, {self.total_steps})")
        rows = np.empty((self.batch_size, self.block_size + 1), dtype=np.int64)
        dom = np.empty(self.batch_size, dtype=np.int64)
        at = 0
        for k in np.flatnonzero(self.counts[step]):
            c = int(self.counts[step, k])
            pos = self.cursor[step, k] + np.arange(c)
            epoch, within = np.divmod(pos, self.windows[k])
            idx = np.empty(c, dtype=np.int64)
            for e in np.unique(epoch):
                sel = epoch == e
                idx[sel] = self._perm(int(k), int(e))[within[sel]]
            rows[at:at + c] = self._data[k].read(idx)
            dom[at:at + c] = k
            at += c
        return rows[:, :-1], rows[:, 1:], dom

    def micro_batch(self, step: int, index: int, n: int):
        """Piece `index` of `n` of batch `step` (x, y, domain): the batch's rows in a seeded order, cut in n equal
        pieces. With n = world_size x grad_accum, rank r's k-th micro-batch is piece k * world_size + r, so the
        pieces of one step are exactly its batch whatever the world size."""
        if self.batch_size % n:
            raise MixtureError(f"batch_size={self.batch_size} (the global batch) does not split into {n} equal "
                               f"micro-batches (world size x gradient accumulation); make it a multiple of {n}")
        if getattr(self, "_last", (None,))[0] != step:  # the other pieces of this step come next: keep its rows
            self._last = (step, self.batch(step))
        x, y, d = self._last[1]
        size = self.batch_size // n
        order = np.random.default_rng([self.seed, 2, step]).permutation(self.batch_size)
        mine = order[index * size:(index + 1) * size]
        return x[mine], y[mine], d[mine]

    # -- weights that follow the loss ------------------------------------------------------------------
    @property
    def dynamic(self):
        return find_dynamic(self.schedule)

    def report_losses(self, steps_done: int, losses: dict[str, float]) -> dict[str, float] | None:
        """Held-out loss per domain after `steps_done` steps (all-reduced over ranks already): a dynamic schedule
        updates its weights and the steps they serve are replanned. Returns the new weights, or None when the
        schedule is not dynamic or no update is due."""
        if not self.update_due(steps_done):
            return None
        first = self.dynamic.update(steps_done, losses)
        self.replan(first)
        return self.dynamic.weights_at(first, self.total_steps)

    def update_due(self, steps_done: int) -> bool:
        """Whether the loop owes a dynamic schedule the held-out losses now (never when no step would use them)."""
        dyn = self.dynamic
        return dyn is not None and dyn.due(steps_done) and steps_done + 1 < self.total_steps

    def resume(self, state: dict) -> None:
        """Resume from a checkpoint's state, or start a branch built from it (start=that state): a branch's
        first resume point is the checkpoint it was made from, whose total_steps and schedule differ."""
        branch = self.state_dict()["start"]
        if self.start_step and int(state.get("step", -1)) == self.start_step and state.get("start") != branch:
            if state.get("cursors") != self.cursors(self.start_step):
                raise MixtureError("refusing to branch: the checkpoint's cursors are not the ones this sampler "
                                   "was built from; pass start= the same checkpoint's sampler state")
            self.step = self.start_step
            return
        self.load_state_dict(state)

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
    def cursors(self, step: int | None = None) -> dict[str, dict]:
        at = self.step if step is None else step
        return {d: {"epoch": int(c // n) if n else 0, "position": int(c % n) if n else 0}
                for d, c, n in zip(self.domains, self.cursor[at], self.windows)}

    def state_dict(self) -> dict:
        out = {"version": STATE_VERSION, "step": self.step, "seed": self.seed,
               "mixture": self.mixture.fingerprint(), "schedule": self.schedule.describe(),
               "batch_size": self.batch_size, "block_size": self.block_size, "total_steps": self.total_steps,
               "cursors": self.cursors(), "epochs_seen": self.epochs_seen(),
               "start": {"step": self.start_step, "cursors": self.cursors(self.start_step)} if self.start_step
               else None}
        if hasattr(self.schedule, "state_dict"):  # a dynamic schedule's weight history
            out["schedule_state"] = self.schedule.state_dict()
        return out

    def load_state_dict(self, state: dict) -> None:
        if state.get("version") not in (2, STATE_VERSION):  # version 2: no branch point, no schedule state
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
        if (state.get("start") or None) != (self.state_dict()["start"]):
            raise MixtureError(f"refusing to resume: the checkpoint's run branched at {state.get('start')}, this "
                               f"sampler at {self.state_dict()['start']}; build it with start=the same branch point")
        if hasattr(self.schedule, "load_state_dict"):
            self.schedule.load_state_dict(state.get("schedule_state") or {})
            self.replan(self.start_step)
        if state.get("schedule") != self.schedule.describe():
            raise MixtureError("refusing to resume: the mixture schedule changed since the checkpoint "
                               f"(was {state.get('schedule')}, now {self.schedule.describe()})")
        step = int(state["step"])
        if state.get("cursors") != self.cursors(step):
            raise MixtureError(f"refusing to resume: the saved domain cursors {state.get('cursors')} are not "
                               f"where this sampler stands at step {step} ({self.cursors(step)}); the shards "
                               f"or the sampler changed; start a new run")
        self.step = step


def eval_batches(mixture: Mixture, split: str, block_size: int, batch_size: int, n_batches: int,
                 seed: int = 1234) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Fixed windows per domain (the same ones every call, distinct while the domain has enough) for held-out
    loss; domains without a window are left out."""
    out = {}
    for k, name in enumerate(sorted(mixture.domains)):
        d = mixture.domains[name]
        data = _Windows(open_shards(d.heldout_files if split == "heldout" else d.files, mixture.dtype), block_size)
        if data.n == 0:
            continue
        need = batch_size * n_batches
        order = np.random.default_rng([seed, k]).permutation(data.n)
        idx = np.resize(order, need)
        rows = data.read(idx)
        out[name] = [(r[:, :-1], r[:, 1:]) for r in rows.reshape(n_batches, batch_size, -1)]
    return out
