"""The bundled pretraining loop: a small GPT on a mixture, with schedules, checkpoints and per-domain logs.

Reads as its blocks (nanoGPT's train.py): setup, repetition check, resume, loop, eval, checkpoint. The config
and the schedules it builds live in train_config.py, plots in plots.py. AdamW; bf16 autocast and torch.compile
on CUDA, fp32 on CPU. Writes into OUT: log.jsonl (train loss, lr, weights and epochs seen per domain every
log_every steps, held-out loss per domain every eval_every), ckpt.pt (model, optimizer, sampler state),
loss.png.
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from gristmill.pipeline.progress import eta

from .mixture import MixtureError, load_mixture
from .model import GPT, GPTConfig
from .plots import plot_heldout
from .sampler import MixtureSampler, eval_batches
from .schedules import MixtureWarning
from .train_config import TrainConfig, build_schedule, lr_multiplier

__all__ = ["TrainConfig", "train", "check_repetition"]


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda was asked for but CUDA is not available; use device: auto")
        return torch.device("cuda")
    return torch.device("cpu")


def check_repetition(sampler: MixtureSampler, max_epochs: float | None, on_repeat: str) -> dict[str, dict]:
    """Before step 0: the tokens and epochs each domain will contribute under the whole schedule (steps x batch
    x block, upsampling included); a domain past `max_epochs` is an error or a warning, per `on_repeat`.
    Repetition past ~4 epochs stops paying off ("To Repeat or Not To Repeat", Xue et al. 2023; "Scaling Laws
    for Data Filtering", Goyal et al. 2024)."""
    plan = sampler.plan()
    if max_epochs is None:
        return plan
    over = {d: round(p["epochs"], 3) for d, p in plan.items() if p["epochs"] > max_epochs + 1e-9}
    if over:
        detail = ", ".join(f"{d}: {plan[d]['tokens']:,} tokens = {e} epochs of {plan[d]['windows']:,} windows"
                           for d, e in over.items())
        msg = (f"the schedule repeats domain(s) past max_epochs={max_epochs:g}: {detail}; lower steps or those "
               f"domains' weights, add data, or raise max_epochs (on_repeat: warn to train anyway)")
        if on_repeat == "error":
            raise MixtureError(msg)
        warnings.warn(msg, MixtureWarning, stacklevel=2)
    return plan


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


def train(cfg: TrainConfig, quiet: bool = False) -> dict:
    # -- setup: data, schedule, model, optimizer
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

    # -- repetition: what each domain will contribute, checked before step 0
    plan = check_repetition(sampler, cfg.max_epochs if cfg.max_epochs is not None else mixture.max_epochs,
                            cfg.on_repeat)

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

    # -- the loop
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

        if step == 0:
            emit({"step": 0, "plan": {d: {k: (round(v, 4) if k == "epochs" else v) for k, v in p.items()}
                                      for d, p in plan.items()}})
        end = min(cfg.steps, cfg.stop_at or cfg.steps)
        while step < end:
            x, y, dom = next(sampler)
            xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            lr = cfg.lr * lr_multiplier(cfg, schedule, step)
            for g in opt.param_groups:
                g["lr"] = lr
            with autocast:
                losses = fwd.token_losses(xt, yt) if fwd is model else _compiled_losses(fwd, xt, yt)
            lw = schedule.loss_weights_at(step, cfg.steps)  # 1.0 per domain unless the schedule upweights
            loss = (losses * torch.tensor([lw.get(names[k], 1.0) for k in dom], device=device)).mean()
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
                       "epochs": sampler.epochs_seen(),
                       "train": {d: round(sums[i] / counts[i], 5) for i, d in enumerate(names) if counts[i]}}
                emit(rec)
                sums[:], counts[:] = 0, 0
                if not quiet:
                    left = eta(seen - tokens0, end * cfg.batch_size * cfg.block_size - tokens0, time.time() - t0)
                    print(f"step {step}/{cfg.steps} loss {last:.4f} lr {lr:.2e} {rec['tokens_per_s']:.0f} tok/s"
                          f"  ETA {left}", file=sys.stderr, flush=True)
            # -- eval
            if step % cfg.eval_every == 0 or step == cfg.steps:
                emit({"step": step, "heldout": heldout_losses(model, held, device)})
            # -- checkpoint
            if step % cfg.ckpt_every == 0 or step == end:
                _save(ckpt_path, {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                  "sampler": sampler.state_dict(), "model_config": gcfg.to_dict(),
                                  "train_config": cfg.model_dump(mode="json")})
    plot_heldout(log_path, out / "loss.png")
    final = heldout_losses(model, held, device)
    seconds = time.time() - t0
    return {"steps": step, "final_loss": last, "heldout": final, "seconds": round(seconds, 2),
            "tokens_per_s": round((step * cfg.batch_size * cfg.block_size - tokens0) / max(seconds, 1e-9), 1),
            "epochs": sampler.epochs_seen(), "params": model.num_params(), "device": device.type,
            "out_dir": str(out)}


def _compiled_losses(fwd, x, y):
    # torch.compile wraps forward(); per-sequence losses are computed from its logits the same way
    logits = fwd(x)
    loss = torch.nn.functional.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1),
                                             reduction="none")
    return loss.view(y.shape).mean(dim=1)
