"""The bundled loop's configuration (TrainConfig) and how it becomes a mixture schedule and an lr schedule.

Schedule keys (`schedule:` in the training YAML):
  type: static       weights (default: the mixture's own)
  type: temperature  tau_start, tau_end, cooldown (p ∝ n^(1/τ) over the mixture's tokens)
  type: phases       phases: [{start, end, type: static|temperature, ...}, ...] tiling [0, 1]
  upsample:          {domains, factor | weights, last_fraction}: end-of-training upsampling on top of any type
  mode: upweight     sample by `sampling` (default: natural, by tokens) and scale each domain's loss towards the
                     schedule above ("Upsample or Upweight?", 2024); any schedule can be the target
  type: dynamic      every, eta, reference ({domain: loss} or a JSON/YAML file of it), smoothing, weights (the
                     initial ones; default the mixture's): Sheared-LLaMA's dynamic batch loading, see
                     schedules.Dynamic. The loop measures held-out loss every `every` steps and reports it.
A key that the chosen type does not read is an error, never silently ignored.

Branching a decay off a stable checkpoint: `init_from: CHECKPOINT` (a ckpt.pt or the out_dir holding it) with
a new `steps`, lr decay and schedule; the run starts at the checkpoint's step with its model, optimizer and every
domain's read position, and plans only the remaining steps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .mixture import Mixture
from .schedules import (
    WSD_DECAYS,
    Dynamic,
    EndUpsample,
    Phase,
    Phases,
    Static,
    Temperature,
    Upweight,
    cosine_lr,
    temperature_weights,
    upsample_start,
    wsd_lr,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    n_layer: int = Field(4, ge=1)
    n_head: int = Field(4, ge=1)
    n_embd: int = Field(128, ge=8)
    dropout: float = Field(0.0, ge=0, lt=1)


class UpsampleSpec(_Strict):
    domains: list[str] = Field(default_factory=list)
    factor: float | None = None
    weights: dict[str, float] | None = None
    last_fraction: float = 0.1


_TAU_KEYS = ("tau_start", "tau_end", "cooldown")


def _or(value, default):
    return default if value is None else value


class BaseScheduleSpec(_Strict):
    """A static or temperature mixture; what each type does not read must not be set."""
    type: Literal["static", "temperature"] = "static"
    weights: dict[str, float] | None = Field(None, description="static weights; default: the mixture's")
    tau_start: float | None = Field(None, description="temperature only (default 3.0)")
    tau_end: float | None = Field(None, description="temperature only (default 1.0)")
    cooldown: float | None = Field(None, description="temperature only (default 0.2)")

    @model_validator(mode="after")
    def _keys_of_the_type(self):
        if self.type == "temperature" and self.weights is not None:
            raise ValueError("type: temperature computes weights from the mixture's token counts and ignores "
                             "`weights`; remove `weights` or use type: static")
        taus = sorted(k for k in _TAU_KEYS if getattr(self, k) is not None)
        if self.type != "temperature" and taus:
            raise ValueError(f"type: {self.type} does not read {taus}; remove them or use type: temperature")
        return self

    def build(self, mixture: Mixture):
        if self.type == "static":
            return Static(self.weights or mixture.weights)
        return Temperature(mixture.tokens, _or(self.tau_start, 3.0), _or(self.tau_end, 1.0), _or(self.cooldown, 0.2),
                           groups=mixture.groups, within=mixture.shares_within_groups())


class PhaseSpec(BaseScheduleSpec):
    start: float = Field(..., ge=0, le=1, description="fraction of training where the phase starts (inclusive)")
    end: float = Field(..., ge=0, le=1, description="fraction where it ends (exclusive; the last includes 1)")


_DYNAMIC_KEYS = ("every", "eta", "reference", "smoothing")


def read_reference(ref: dict | str) -> dict[str, float]:
    """Reference losses: a {domain: loss} mapping, or the path of a JSON/YAML file holding one."""
    if isinstance(ref, dict):
        return {str(k): float(v) for k, v in ref.items()}
    path = Path(ref)
    if not path.exists():
        raise ValueError(f"schedule.reference: file {path} does not exist; give {{domain: loss}} or a JSON/YAML "
                         f"file of it")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict) or not all(isinstance(v, (int, float)) for v in raw.values()):
        raise ValueError(f"schedule.reference: {path} must hold a mapping of domain to loss")
    return {str(k): float(v) for k, v in raw.items()}


class ScheduleSpec(BaseScheduleSpec):
    type: Literal["static", "temperature", "phases", "dynamic"] = "static"
    phases: list[PhaseSpec] | None = None
    every: int | None = Field(None, ge=1, description="dynamic only: steps between weight updates")
    eta: float | None = Field(None, ge=0, description="dynamic only: step size (default 1.0, the paper's)")
    reference: dict[str, float] | str | None = Field(
        None, description="dynamic only: reference held-out loss per domain, or a JSON/YAML file of it")
    smoothing: float | None = Field(None, ge=0, lt=1, description="dynamic only: mix with uniform (default 0)")
    upsample: UpsampleSpec | None = None
    mode: Literal["sample", "upweight"] = Field(
        "sample", description="upweight: sample by `sampling`, scale losses towards this schedule")
    sampling: Literal["natural", "base"] | BaseScheduleSpec | None = Field(
        None, description="mode: upweight only. natural (the default): by tokens; base: this schedule without "
                          "its upsampling; or a static/temperature schedule")

    @model_validator(mode="after")
    def _phases_and_modes(self):
        dyn = sorted(k for k in _DYNAMIC_KEYS if getattr(self, k) is not None)
        if self.type == "dynamic":
            if self.every is None or self.reference is None:
                raise ValueError("type: dynamic needs `every` (steps) and `reference` ({domain: loss} or a file)")
            if self.upsample is not None or self.mode != "sample":
                raise ValueError("type: dynamic sets the weights from the loss; it takes no `upsample` or `mode`")
        elif dyn:
            raise ValueError(f"type: {self.type} does not read {dyn}; remove them or use type: dynamic")
        if self.type == "phases":
            if not self.phases:
                raise ValueError("type: phases needs `phases: [{start, end, type, ...}, ...]`")
            stray = [k for k in ("weights", *_TAU_KEYS) if getattr(self, k) is not None]
            if stray:
                raise ValueError(f"type: phases reads its settings from each phase; move {sorted(stray)} into "
                                 f"the phases")
        elif self.phases is not None:
            raise ValueError(f"`phases` is only read with type: phases (type is {self.type})")
        if self.mode == "sample" and self.sampling is not None:
            raise ValueError("`sampling` is only read with mode: upweight")
        if self.sampling == "base" and self.upsample is None:
            raise ValueError("sampling: base samples by the schedule without its upsampling, so it needs "
                             "`upsample`")
        return self

    def _base(self, mixture: Mixture):
        if self.type != "phases":
            return BaseScheduleSpec.build(self, mixture)
        return Phases([Phase(p.start, p.end, p.build(mixture)) for p in self.phases])

    def build(self, mixture: Mixture):
        if self.type == "dynamic":
            return Dynamic(self.weights or mixture.weights, read_reference(self.reference), self.every,
                           _or(self.eta, 1.0), _or(self.smoothing, 0.0))
        base = self._base(mixture)
        full = base
        if self.upsample is not None:
            u = self.upsample
            full = EndUpsample(base, u.domains, u.factor, u.weights, u.last_fraction)
        if self.mode == "sample":
            return full
        if self.sampling in (None, "natural"):
            sampling = Static(temperature_weights(mixture.tokens, 1.0))
        elif self.sampling == "base":
            sampling = base
        else:
            sampling = self.sampling.build(mixture)
        return Upweight(target=full, sampling=sampling)


class TrainConfig(_Strict):
    mixture: str = Field(..., description="mixture.json, or the run folder holding it")
    out_dir: str = Field("runs/train", description="where log.jsonl, ckpt.pt and loss.png go")
    seed: int = 0
    steps: int = Field(500, ge=1)
    batch_size: int = Field(16, ge=1, description="the global batch of one optimizer step (all ranks together)")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step on each rank")
    block_size: int = Field(128, ge=8)
    model: ModelSpec = Field(default_factory=ModelSpec)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup: int = Field(20, ge=0)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    lr_schedule: Literal["cosine", "wsd"] = "cosine"
    wsd_decay_fraction: float = Field(0.2, gt=0, le=1)
    wsd_decay: Literal[WSD_DECAYS] = Field(  # type: ignore[valid-type]
        "linear", description="shape of the WSD decay: linear | exp (MiniCPM) | 1-sqrt (Hägele et al. 2024)")
    align_decay: bool = Field(True, description="WSD: start the decay where the upsampling phase starts")
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    max_epochs: float | None = Field(
        None, gt=0, description="cap on passes over any domain's windows; default: the mixture's max_epochs")
    on_repeat: Literal["error", "warn"] = Field(
        "error", description="what to do, before step 0, when a domain would exceed max_epochs")
    log_every: int = Field(10, ge=1)
    eval_every: int = Field(100, ge=1)
    eval_batches: int = Field(4, ge=1)
    ckpt_every: int = Field(100, ge=1)
    stop_at: int | None = Field(None, ge=1, description="checkpoint and stop at this step (time-sliced jobs); "
                                                         "rerun without it to finish")
    resume: bool = True
    init_from: str | None = Field(None, description="branch: start from this checkpoint (ckpt.pt or its folder) "
                                                    "with this config's steps, lr decay and schedule")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: bool = Field(True, description="torch.compile on CUDA (never on CPU)")

    @model_validator(mode="after")
    def _exp_needs_a_floor(self):
        if self.lr_schedule == "wsd" and self.wsd_decay == "exp" and self.min_lr_ratio <= 0:
            raise ValueError("wsd_decay: exp is geometric from 1 to min_lr_ratio, so min_lr_ratio must be > 0")
        return self


def build_schedule(spec: ScheduleSpec, mixture: Mixture):
    return spec.build(mixture)


def lr_multiplier(cfg: TrainConfig, schedule, step: int) -> float:
    if cfg.lr_schedule == "cosine":
        return cosine_lr(step, cfg.steps, cfg.warmup, cfg.min_lr_ratio)
    start = upsample_start(schedule) if cfg.align_decay else None
    return wsd_lr(step, cfg.steps, cfg.warmup, cfg.wsd_decay_fraction, cfg.min_lr_ratio, decay_start=start,
                  decay=cfg.wsd_decay)
