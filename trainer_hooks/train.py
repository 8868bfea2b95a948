"""The bundled pretraining loop: a small GPT on a mixture, with schedules, checkpoints and per-domain logs.

One readable script in sections (config, schedule, setup, resume, loop, eval, checkpoint). AdamW; bf16 autocast
and torch.compile on CUDA, fp32 on CPU. Writes into OUT: log.jsonl (train loss per domain every log_every
steps, held-out loss per domain every eval_every), ckpt.pt (model, optimizer, sampler state), loss.png.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from gristmill.pipeline.progress import eta

from .mixture import Mixture, load_mixture
from .model import GPT, GPTConfig
from .sampler import MixtureSampler, eval_batches
from .schedules import EndUpsample, Static, Temperature, Upweight, cosine_lr, upsample_start, wsd_lr


# -- config -----------------------------------------------------------------------------------------
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


class ScheduleSpec(_Strict):
    type: Literal["static", "temperature"] = "static"
    weights: dict[str, float] | None = Field(None, description="static weights; default: the mixture's")
    tau_start: float = 3.0
    tau_end: float = 1.0
    cooldown: float = 0.2
    upsample: UpsampleSpec | None = None
    mode: Literal["sample", "upweight"] = Field(
        "sample", description="upweight: sample by the base schedule, scale losses towards the full one")


class TrainConfig(_Strict):
    mixture: str = Field(..., description="mixture.json, or the run folder holding it")
    out_dir: str = Field("runs/train", description="where log.jsonl, ckpt.pt and loss.png go")
    seed: int = 0
    steps: int = Field(500, ge=1)
    batch_size: int = Field(16, ge=1)
    block_size: int = Field(128, ge=8)
    model: ModelSpec = Field(default_factory=ModelSpec)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup: int = Field(20, ge=0)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    lr_schedule: Literal["cosine", "wsd"] = "cosine"
    wsd_decay_fraction: float = Field(0.2, gt=0, le=1)
    align_decay: bool = Field(True, description="WSD: start the decay where the upsampling phase starts")
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    log_every: int = Field(10, ge=1)
    eval_every: int = Field(100, ge=1)
    eval_batches: int = Field(4, ge=1)
    ckpt_every: int = Field(100, ge=1)
    stop_at: int | None = Field(None, ge=1, description="checkpoint and stop at this step (time-sliced jobs); "
                                                         "rerun without it to finish")
    resume: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: bool = Field(True, description="torch.compile on CUDA (never on CPU)")


# -- schedule ---------------------------------------------------------------------------------------
def build_schedule(spec: ScheduleSpec, mixture: Mixture):
    if spec.type == "static":
        base = Static(spec.weights or mixture.weights)
    else:
        base = Temperature(mixture.tokens, spec.tau_start, spec.tau_end, spec.cooldown)
    full = base
    if spec.upsample is not None:
        u = spec.upsample
        full = EndUpsample(base, u.domains, u.factor, u.weights, u.last_fraction)
    return Upweight(target=full, sampling=base) if spec.mode == "upweight" else full


def lr_multiplier(cfg: TrainConfig, schedule, step: int) -> float:
    if cfg.lr_schedule == "cosine":
        return cosine_lr(step, cfg.steps, cfg.warmup, cfg.min_lr_ratio)
    start = upsample_start(schedule) if cfg.align_decay else None
    return wsd_lr(step, cfg.steps, cfg.warmup, cfg.wsd_decay_fraction, cfg.min_lr_ratio, decay_start=start)


# -- helpers ----------------------------------------------------------------------------------------
def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda was asked for but CUDA is not available; use device: auto")
        return torch.device("cuda")
    return torch.device("cpu")


@torch.no_grad()
def heldout_losses(model, batches: dict, device) -> dict[str, float]:
    model.eval()
    out = {}
    for dom, items in batches.items():
        vals = [model.token_losses(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)).mean().item()
                for x, y in items]
        out[dom] = round(float(np.mean(vals)), 5)
    model.train()
    return out


def _save(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _keep_log_until(log: Path, step: int) -> None:
    """On resume, drop log lines written after the checkpoint so the log has no duplicate steps."""
    if not log.exists():
        return
    lines = [ln for ln in log.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    log.write_text("".join(ln + "\n" for ln in lines))


def plot(log: Path, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    evals = [r for r in rows if "heldout" in r]
    if not evals:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for dom in evals[-1]["heldout"]:
        ax.plot([r["step"] for r in evals], [r["heldout"].get(dom, math.nan) for r in evals], label=dom)
    ax.set_xlabel("step"), ax.set_ylabel("held-out loss"), ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


# -- the loop ---------------------------------------------------------------------------------------
def train(cfg: TrainConfig, quiet: bool = False) -> dict:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path, ckpt_path = out / "log.jsonl", out / "ckpt.pt"
    device = _device(cfg)
    torch.manual_seed(cfg.seed)

    mixture = load_mixture(cfg.mixture)
    schedule = build_schedule(cfg.schedule, mixture)
    sampler = MixtureSampler(mixture, batch_size=cfg.batch_size, block_size=cfg.block_size,
                             total_steps=cfg.steps, schedule=schedule, seed=cfg.seed)
    held = eval_batches(mixture, "heldout", cfg.block_size, cfg.batch_size, cfg.eval_batches)
    gcfg = GPTConfig(vocab_size=mixture.vocab_size, block_size=cfg.block_size, **cfg.model.model_dump())
    model = GPT(gcfg).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95),
                            fused=device.type == "cuda")

    # -- resume
    step = 0
    if cfg.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["model_config"] != gcfg.to_dict():
            raise RuntimeError(f"refusing to resume from {ckpt_path}: model was {ck['model_config']}, config "
                               f"now asks for {gcfg.to_dict()}; use another out_dir or set resume: false")
        sampler.load_state_dict(ck["sampler"])
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step = ck["step"]
        _keep_log_until(log_path, step)
    elif log_path.exists():
        log_path.unlink()

    fwd = torch.compile(model) if device.type == "cuda" and cfg.compile else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    names = sampler.domains
    sums, counts = np.zeros(len(names)), np.zeros(len(names))
    t0, tokens0, last = time.time(), step * cfg.batch_size * cfg.block_size, None
    with open(log_path, "a") as log:
        def emit(rec):
            log.write(json.dumps(rec) + "\n")
            log.flush()

        end = min(cfg.steps, cfg.stop_at or cfg.steps)
        while step < end:
            x, y, dom = next(sampler)
            xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            lr = cfg.lr * lr_multiplier(cfg, schedule, step)
            for g in opt.param_groups:
                g["lr"] = lr
            with autocast:
                losses = fwd.token_losses(xt, yt) if fwd is model else _compiled_losses(fwd, xt, yt)
            if isinstance(schedule, Upweight):
                lw = schedule.loss_weights_at(step, cfg.steps)
                loss = (losses * torch.tensor([lw[names[k]] for k in dom], device=device)).mean()
            else:
                loss = losses.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            per = losses.detach().float().cpu().numpy()
            np.add.at(sums, dom, per)
            np.add.at(counts, dom, 1)
            step += 1
            last = float(loss.item())

            if step % cfg.log_every == 0 or step == cfg.steps:
                seen = step * cfg.batch_size * cfg.block_size
                rec = {"step": step, "loss": round(last, 5), "lr": lr,
                       "tokens": seen, "tokens_per_s": round((seen - tokens0) / max(time.time() - t0, 1e-9), 1),
                       "weights": {d: round(w, 5) for d, w in schedule.weights_at(step - 1, cfg.steps).items()},
                       "train": {d: round(sums[i] / counts[i], 5) for i, d in enumerate(names) if counts[i]}}
                emit(rec)
                sums[:], counts[:] = 0, 0
                if not quiet:
                    left = eta(seen - tokens0, end * cfg.batch_size * cfg.block_size - tokens0, time.time() - t0)
                    print(f"step {step}/{cfg.steps} loss {last:.4f} lr {lr:.2e} {rec['tokens_per_s']:.0f} tok/s"
                          f"  ETA {left}", file=sys.stderr, flush=True)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                emit({"step": step, "heldout": heldout_losses(model, held, device)})
            if step % cfg.ckpt_every == 0 or step == end:
                _save(ckpt_path, {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                  "sampler": sampler.state_dict(), "model_config": gcfg.to_dict(),
                                  "train_config": cfg.model_dump(mode="json")})
    plot(log_path, out / "loss.png")
    final = heldout_losses(model, held, device)
    seconds = time.time() - t0
    return {"steps": step, "final_loss": last, "heldout": final, "seconds": round(seconds, 2),
            "tokens_per_s": round((step * cfg.batch_size * cfg.block_size - tokens0) / max(seconds, 1e-9), 1),
            "params": model.num_params(), "device": device.type, "out_dir": str(out)}


def _compiled_losses(fwd, x, y):
    # torch.compile wraps forward(); per-sequence losses are computed from its logits the same way
    logits = fwd(x)
    loss = torch.nn.functional.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1),
                                             reduction="none")
    return loss.view(y.shape).mean(dim=1)
