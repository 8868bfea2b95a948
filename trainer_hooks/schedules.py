"""Mixture and learning-rate schedules as pure functions of (step, total).

Every mixture schedule answers `weights_at(step, total) -> {domain: weight}` with weights that sum to 1, and
`loss_weights_at(step, total) -> {domain: multiplier}` for the per-domain loss (1.0 everywhere except `Upweight`),
so a training loop treats every schedule the same way.
Given weights that do not sum to 1 are NORMALIZED with a `MixtureWarning` (a config that lists relative sizes,
like {web: 7, code: 2, wiki: 1}, is common and unambiguous); negative weights, all-zero weights, empty
mixtures and overlapping or gapped phases are errors (`ScheduleError`).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Protocol, Sequence


class ScheduleError(ValueError):
    """A schedule that cannot be followed; the message says which key to fix."""


class MixtureWarning(UserWarning):
    pass


def normalize_weights(weights: Mapping[str, float], what: str = "weights", warn: bool = True) -> dict[str, float]:
    """
    >>> normalize_weights({"a": 3, "b": 1}, warn=False)
    {'a': 0.75, 'b': 0.25}
    """
    if not weights:
        raise ScheduleError(f"{what}: no domains given")
    bad = {k: v for k, v in weights.items() if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0)}
    if bad:
        raise ScheduleError(f"{what}: weights must be finite and >= 0, got {bad}")
    total = float(sum(weights.values()))
    if total <= 0:
        raise ScheduleError(f"{what}: all weights are zero; give at least one domain a positive weight")
    if warn and abs(total - 1.0) > 1e-6:
        warnings.warn(f"{what} sum to {total:.6g}, not 1; normalizing them", MixtureWarning, stacklevel=3)
    return {k: float(v) / total for k, v in weights.items()}


def temperature_weights(tokens: Mapping[str, float], tau: float) -> dict[str, float]:
    """p_d ∝ n_d^(1/τ): τ=1 is natural (by size), larger τ flattens towards uniform.

    >>> {k: round(v, 3) for k, v in temperature_weights({"a": 900, "b": 100}, 2.0).items()}
    {'a': 0.75, 'b': 0.25}
    """
    if tau <= 0:
        raise ScheduleError(f"temperature must be > 0, got {tau}")
    powered = {k: (float(n) ** (1.0 / tau) if n > 0 else 0.0) for k, n in tokens.items()}
    if sum(powered.values()) <= 0:
        raise ScheduleError("temperature sampling: every domain has zero tokens")
    return normalize_weights(powered, "temperature weights", warn=False)


def _fraction(step: int, total: int) -> float:
    if total <= 0:
        raise ScheduleError(f"total steps must be > 0, got {total}")
    return min(max(step / total, 0.0), 1.0)


class Schedule(Protocol):
    def weights_at(self, step: int, total: int) -> dict[str, float]: ...

    def loss_weights_at(self, step: int, total: int) -> dict[str, float]: ...

    def describe(self) -> dict: ...


class _SampledAsIs:
    """Schedules that sample the mixture they want to train on: every domain's loss counts once."""

    def loss_weights_at(self, step: int, total: int) -> dict[str, float]:
        return dict.fromkeys(self.weights_at(step, total), 1.0)


@dataclass
class Static(_SampledAsIs):
    weights: Mapping[str, float]

    def __post_init__(self):
        self.weights = normalize_weights(self.weights, "Static weights")

    def weights_at(self, step: int, total: int) -> dict[str, float]:
        return dict(self.weights)

    def describe(self) -> dict:
        return {"type": "static", "weights": dict(self.weights)}


@dataclass
class Temperature(_SampledAsIs):
    """Temperature sampling with a cooldown ("Upsample or Upweight?", 2024): sample at tau_start (flat, small
    domains upsampled), then move tau linearly to tau_end over the last `cooldown` fraction of training.

    With `groups` (mixture domain -> its domain, as mix writes for rephrased cells) temperature weighs the
    domains by their total tokens and each domain's weight is split over its cells by `within` (the cell's
    share of its domain in the mixture): a small synthetic cell is part of its domain, not a domain to upsample.
    """
    tokens: Mapping[str, float]
    tau_start: float = 3.0
    tau_end: float = 1.0
    cooldown: float = 0.2
    groups: Mapping[str, str] | None = None
    within: Mapping[str, float] | None = None

    def __post_init__(self):
        if not 0 <= self.cooldown <= 1:
            raise ScheduleError(f"Temperature.cooldown is a fraction of training in [0, 1], got {self.cooldown}")
        temperature_weights(self.tokens, self.tau_start)
        temperature_weights(self.tokens, self.tau_end)

    def tau_at(self, step: int, total: int) -> float:
        start = 1.0 - self.cooldown
        f = _fraction(step, total)
        if self.cooldown == 0 or f <= start:
            return self.tau_start
        return self.tau_start + (self.tau_end - self.tau_start) * (f - start) / self.cooldown

    def weights_at(self, step: int, total: int) -> dict[str, float]:
        tau = self.tau_at(step, total)
        if not self.groups:
            return temperature_weights(self.tokens, tau)
        group_tokens: dict[str, float] = {}
        for d, t in self.tokens.items():
            g = self.groups.get(d, d)
            group_tokens[g] = group_tokens.get(g, 0.0) + t
        gw = temperature_weights(group_tokens, tau)
        within = self.within or {}
        return {d: gw[self.groups.get(d, d)] * within.get(d, 1.0) for d in self.tokens}

    def describe(self) -> dict:
        return {"type": "temperature", "tau_start": self.tau_start, "tau_end": self.tau_end,
                "cooldown": self.cooldown}


@dataclass
class Phase:
    start: float  # fraction of training, inclusive
    end: float  # fraction of training, exclusive (the last phase includes 1.0)
    schedule: Schedule


@dataclass
class Phases:
    """Composition: a different schedule per contiguous span of training. Phases must tile [0, 1]."""
    phases: Sequence[Phase]

    def __post_init__(self):
        ps = sorted(self.phases, key=lambda p: p.start)
        if not ps:
            raise ScheduleError("Phases: no phases given")
        for p in ps:
            if not 0 <= p.start < p.end <= 1:
                raise ScheduleError(f"phase [{p.start}, {p.end}) is not a span inside [0, 1]")
        for a, b in zip(ps, ps[1:]):
            if b.start < a.end:
                raise ScheduleError(f"phases overlap: [{a.start}, {a.end}) and [{b.start}, {b.end})")
            if b.start > a.end:
                raise ScheduleError(f"phases leave a gap between {a.end} and {b.start}")
        if ps[0].start != 0 or ps[-1].end != 1:
            raise ScheduleError(f"phases must cover all of training, they cover [{ps[0].start}, {ps[-1].end})")
        self.phases = ps

    def phase_at(self, step: int, total: int) -> Phase:
        f = _fraction(step, total)
        for p in self.phases:
            if f < p.end:
                return p
        return self.phases[-1]

    def weights_at(self, step: int, total: int) -> dict[str, float]:
        return self.phase_at(step, total).schedule.weights_at(step, total)

    def loss_weights_at(self, step: int, total: int) -> dict[str, float]:
        return self.phase_at(step, total).schedule.loss_weights_at(step, total)

    def describe(self) -> dict:
        return {"type": "phases", "phases": [{"start": p.start, "end": p.end, **p.schedule.describe()}
                                             for p in self.phases]}


@dataclass
class EndUpsample(_SampledAsIs):
    """Upsample chosen domains in the last part of training ("Does your data spark joy?", 2024).

    Either `factor` multiplies the base weights of `domains` (then all are renormalized), or `weights` gives the
    whole mixture for the final phase. The first (1 - last_fraction) of training follows `base` unchanged."""
    base: Schedule
    domains: Sequence[str] = ()
    factor: float | None = None
    weights: Mapping[str, float] | None = None
    last_fraction: float = 0.1

    def __post_init__(self):
        if not 0 < self.last_fraction < 1:
            raise ScheduleError(f"EndUpsample.last_fraction must be in (0, 1), got {self.last_fraction}")
        if (self.factor is None) == (self.weights is None):
            raise ScheduleError("EndUpsample: give exactly one of `factor` (with `domains`) or `weights`")
        if self.factor is not None:
            if self.factor <= 0:
                raise ScheduleError(f"EndUpsample.factor must be > 0, got {self.factor}")
            if not self.domains:
                raise ScheduleError("EndUpsample: `factor` needs the `domains` to upsample")
            known = set(self.base.weights_at(0, 1))
            unknown = [d for d in self.domains if d not in known]
            if unknown:
                raise ScheduleError(f"EndUpsample: unknown domain(s) {unknown}; known: {sorted(known)}")
        else:
            self.weights = normalize_weights(self.weights, "EndUpsample weights")

    @property
    def start_fraction(self) -> float:
        return 1.0 - self.last_fraction

    def weights_at(self, step: int, total: int) -> dict[str, float]:
        w = self.base.weights_at(step, total)
        if _fraction(step, total) < self.start_fraction:
            return w
        if self.weights is not None:
            return {d: self.weights.get(d, 0.0) for d in set(w) | set(self.weights)}
        up = {d: v * (self.factor if d in self.domains else 1.0) for d, v in w.items()}
        s = sum(up.values())
        return {d: v / s for d, v in up.items()}

    def describe(self) -> dict:
        return {"type": "end_upsample", "base": self.base.describe(), "domains": list(self.domains),
                "factor": self.factor, "weights": dict(self.weights) if self.weights else None,
                "last_fraction": self.last_fraction}


@dataclass
class Upweight:
    """The upweighting alternative to upsampling ("Upsample or Upweight? Balanced Training on Heavily Imbalanced
    Datasets", 2024): sample by `sampling` (natural proportions in the paper), and scale each domain's loss by
    target/sampling so the expected gradient matches training on `target` (sum_d s_d * t_d/s_d = 1). Any
    schedule can be the target: a temperature schedule, phases, an end-upsampling."""
    target: Schedule
    sampling: Schedule

    def weights_at(self, step: int, total: int) -> dict[str, float]:
        return self.sampling.weights_at(step, total)

    def loss_weights_at(self, step: int, total: int) -> dict[str, float]:
        t, s = self.target.weights_at(step, total), self.sampling.weights_at(step, total)
        missing = [d for d, v in t.items() if v > 0 and s.get(d, 0) <= 0]
        if missing:
            raise ScheduleError(f"Upweight: domain(s) {missing} have target weight but are never sampled")
        return {d: (t.get(d, 0.0) / s[d] if s[d] > 0 else 0.0) for d in s}

    def describe(self) -> dict:
        return {"type": "upweight", "target": self.target.describe(), "sampling": self.sampling.describe()}


class Dynamic(_SampledAsIs):
    """Weights that follow the loss: Sheared-LLaMA's dynamic batch loading (Xia et al. 2023, "Sheared LLaMA:
    Accelerating Language Model Pre-training via Structured Pruning", Algorithm 1). Every `every` steps the loop
    measures each domain's held-out loss l_d and reports it (`update`); with the reference loss l_ref,d
    (the loss a target model reaches on that domain):

        delta_d = max(l_d - l_ref,d, 0)
        w_d    <- w_d * exp(eta * delta_d) / sum_e w_e * exp(eta * delta_e)

    so the domains whose loss lags their reference the most gain weight. The paper's Algorithm 1 is eta = 1 and
    no smoothing (the defaults). The authors' released code (llmshearing/callbacks/dynamic_loading_callback.py)
    also mixes the result with the uniform distribution, w <- (1 - c) w + c / k with c = 1e-4, following DoReMi
    (Xie et al. 2023); `smoothing: c` does that.

    Where we differ, and why: in Algorithm 1 the weights computed at step t serve step t's batch; here the
    weights computed after `t` steps serve from step t + 1 on, because a Hugging Face DataLoader has already
    drawn step t's first micro-batch when the loss is measured (the bundled loop does the same so both give one
    stream). The weight history is the schedule's state: saved with the sampler, a resumed run replays it.
    """

    def __init__(self, initial: Mapping[str, float], reference: Mapping[str, float], every: int, eta: float = 1.0,
                 smoothing: float = 0.0):
        if every < 1:
            raise ScheduleError(f"dynamic schedule: `every` must be >= 1 step, got {every}")
        if eta < 0 or not 0 <= smoothing < 1:
            raise ScheduleError(f"dynamic schedule: eta must be >= 0 and smoothing in [0, 1), got {eta}, {smoothing}")
        self.initial = normalize_weights(initial, "dynamic schedule's initial weights")
        missing = sorted(set(self.initial) - set(reference))
        if missing:
            raise ScheduleError(f"dynamic schedule: `reference` has no loss for domain(s) {missing}; give one per "
                                f"domain ({sorted(self.initial)})")
        self.reference = {d: float(reference[d]) for d in self.initial}
        self.every, self.eta, self.smoothing = int(every), float(eta), float(smoothing)
        self.history: list[tuple[int, dict[str, float]]] = [(0, dict(self.initial))]

    def weights_at(self, step: int, total: int) -> dict[str, float]:
        for first, w in reversed(self.history):
            if step >= first:
                return dict(w)
        return dict(self.initial)

    def due(self, steps_done: int) -> bool:
        """Whether the loop should measure the held-out loss and call `update` after `steps_done` steps."""
        return steps_done > 0 and steps_done % self.every == 0

    def update(self, steps_done: int, losses: Mapping[str, float]) -> int:
        """New weights from the held-out losses measured after `steps_done` steps; they serve from the returned
        step on (the sampler replans from there). A domain without a loss keeps its delta at 0."""
        w = self.weights_at(steps_done, 0)
        delta = {d: max(float(losses.get(d, self.reference[d])) - self.reference[d], 0.0) for d in w}
        top = max(self.eta * v for v in delta.values())  # subtracting the max keeps exp() finite
        new = normalize_weights({d: w[d] * math.exp(self.eta * delta[d] - top) for d in w}, warn=False)
        if self.smoothing:
            new = {d: (1 - self.smoothing) * v + self.smoothing / len(new) for d, v in new.items()}
        first = steps_done + 1
        self.history = [h for h in self.history if h[0] < first] + [(first, new)]
        return first

    def state_dict(self) -> dict:
        return {"history": [[first, w] for first, w in self.history]}

    def load_state_dict(self, state: dict) -> None:
        hist = state.get("history")
        self.history = [(int(f), dict(w)) for f, w in hist] if hist else [(0, dict(self.initial))]

    def describe(self) -> dict:
        return {"type": "dynamic", "initial": dict(self.initial), "reference": dict(self.reference),
                "every": self.every, "eta": self.eta, "smoothing": self.smoothing}


def find_dynamic(schedule) -> Dynamic | None:
    """The Dynamic schedule a loop must report losses to, if `schedule` is one."""
    return schedule if isinstance(schedule, Dynamic) else None


# -- learning rate: multipliers of the peak lr ------------------------------------------------------
def cosine_lr(step: int, total: int, warmup: int = 0, min_ratio: float = 0.1) -> float:
    """Linear warmup, then cosine from 1 down to min_ratio at `total`.

    >>> cosine_lr(0, 100, warmup=10), cosine_lr(10, 100, warmup=10), round(cosine_lr(100, 100, warmup=10), 3)
    (0.1, 1.0, 0.1)
    """
    if step < warmup:
        return (step + 1) / warmup
    f = min(max((step - warmup) / max(total - warmup, 1), 0.0), 1.0)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * f))


WSD_DECAYS = ("linear", "exp", "1-sqrt")


def wsd_lr(step: int, total: int, warmup: int = 0, decay_fraction: float = 0.1, min_ratio: float = 0.0,
           decay_start: float | None = None, decay: str = "linear") -> float:
    """Warmup-stable-decay: warmup, flat at 1, then decay so the LAST step (total - 1) is at min_ratio.

    With f = (step - d0 + 1) / (total - d0) the fraction of the decay done after `step` (d0: its first step; f = 1
    at the last step):
    - `linear`: 1 - (1 - m) f
    - `exp`: m^f, a geometric decay from 1 to m (MiniCPM, Hu et al. 2024, decays exponentially; needs m > 0)
    - `1-sqrt`: 1 - (1 - m) sqrt(f) (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond
      Fixed Training Durations")
    The decay starts at `decay_start` (a fraction of training) when given, else at 1 - decay_fraction; pass an
    EndUpsample's `start_fraction` to align the decay with the upsampling phase.

    >>> [wsd_lr(s, 10, decay_fraction=0.4) for s in (0, 5, 6, 7, 9)]
    [1.0, 1.0, 0.75, 0.5, 0.0]
    >>> round(wsd_lr(7, 10, decay_fraction=0.4, min_ratio=0.01, decay="exp"), 6), wsd_lr(9, 10, decay="1-sqrt")
    (0.1, 0.0)
    """
    start = decay_start if decay_start is not None else 1.0 - decay_fraction
    if not 0 <= start <= 1:
        raise ScheduleError(f"WSD decay start must be a fraction in [0, 1], got {start}")
    if decay not in WSD_DECAYS:
        raise ScheduleError(f"WSD decay must be one of {list(WSD_DECAYS)}, got {decay!r}")
    if decay == "exp" and min_ratio <= 0:
        raise ScheduleError("WSD exp decay is geometric from 1 to min_ratio, so it needs min_ratio > 0 "
                            "(e.g. 0.01); use decay: linear or 1-sqrt to reach 0")
    if step < warmup:
        return (step + 1) / warmup
    d0 = max(int(round(start * total)), warmup)
    if step < d0:
        return 1.0
    f = min((step - d0 + 1) / max(total - d0, 1), 1.0)
    if decay == "exp":
        return min_ratio ** f
    if decay == "1-sqrt":
        f = math.sqrt(f)
    return 1.0 - (1.0 - min_ratio) * f


def upsample_start(schedule: Schedule) -> float | None:
    """Where an EndUpsample phase begins inside `schedule` (for aligning the WSD decay), else None."""
    if isinstance(schedule, EndUpsample):
        return schedule.start_fraction
    if isinstance(schedule, Upweight):
        return upsample_start(schedule.target)
    return None
