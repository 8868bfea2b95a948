"""The bundled pretraining loop: a small GPT on a mixture, with schedules, checkpoints and per-domain logs.

Reads as its blocks (nanoGPT's train.py): setup, repetition check, resume, loop, eval, checkpoint. The config
and the schedules it builds live in train_config.py, plots in plots.py. AdamW; bf16 autocast and torch.compile
on CUDA, fp32 on CPU. Writes into OUT: log.jsonl (train loss, lr, weights, epochs seen, tokens and a digest of
the rows trained on per domain every log_every steps, held-out loss per domain every eval_every), ckpt.pt
(model, optimizer, sampler state), loss.png and weights.png.

Several ranks: started under `torchrun --nproc_per_node N gristmill train CONFIG` the loop runs DDP (gloo on
CPU, NCCL on CUDA). `batch_size` is the global batch: rank r trains on micro-batches k*N + r of each step
(sampler.micro_batch), so the union over ranks is the one-process batch; losses for logging, held-out losses and
the row digest are all-reduced; rank 0 writes the log and the checkpoint, every rank resumes from it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from gristmill.pipeline.progress import eta

from .mixture import MixtureError, load_mixture
from .model import GPT, GPTConfig
from .plots import plot_heldout, plot_weights
from .sampler import MixtureSampler, eval_batches
from .schedules import MixtureWarning
from .train_config import TrainConfig, build_schedule, lr_multiplier

__all__ = ["TrainConfig", "train", "check_repetition"]


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda was asked for but CUDA is not available; use device: auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


class Ranks:
    """This process's place among the data-parallel ranks (one rank when not started by torchrun)."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.main = self.rank == 0
        self.device = device
        if self.world > 1 and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        """All-reduce (sum) in place; NCCL only reduces tensors on the GPU, so CPU tensors travel there and back."""
        if self.world > 1:
            if self.device.type == "cuda" and t.device.type != "cuda":
                g = t.to(self.device)
                dist.all_reduce(g)
                t.copy_(g.cpu())
            else:
                dist.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def row_digest(x: np.ndarray) -> int:
    """An order-free digest of a set of rows (sum of 32-bit row hashes): summed over ranks it equals the digest
    of the whole batch, so logs of 1 and N ranks can be compared step by step."""
    return sum(int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=4).digest(), "little") for r in x)


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
def heldout_losses(model, batches: dict, device, ranks: Ranks | None = None) -> dict[str, float]:
    """Mean held-out loss per domain; with several ranks each evaluates every world-th batch and the sums are
    all-reduced, so every rank gets the same numbers."""
    world, rank = (ranks.world, ranks.rank) if ranks else (1, 0)
    names = sorted(batches)
    sums = torch.zeros(2, len(names), dtype=torch.float64, device=device)
    model.eval()
    for k, dom in enumerate(names):
        for j, (x, y) in enumerate(batches[dom]):
            if j % world == rank:
                sums[0, k] += model.token_losses(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
                                                 ).mean().double()
                sums[1, k] += 1
    model.train()
    if ranks:
        ranks.sum(sums)
    return {d: round(float(sums[0, k] / sums[1, k]), 5) for k, d in enumerate(names) if sums[1, k] > 0}


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


def _checkpoint_file(path: str) -> Path:
    p = Path(path)
    p = p / "ckpt.pt" if p.is_dir() else p
    if not p.exists():
        raise MixtureError(f"init_from: {p} does not exist; point it at a ckpt.pt written by `gristmill train` "
                           f"or the out_dir holding one")
    return p


def _starting_point(cfg: TrainConfig, ckpt_path: Path, device) -> tuple[dict | None, str]:
    """The checkpoint this run starts from and how: ('resume', this out_dir's own), ('branch', init_from's), or
    (None, 'fresh')."""
    if cfg.resume and ckpt_path.exists():
        return torch.load(ckpt_path, map_location=device, weights_only=False), "resume"
    if cfg.init_from:
        return torch.load(_checkpoint_file(cfg.init_from), map_location=device, weights_only=False), "branch"
    return None, "fresh"


def _restore(ck: dict, how: str, gcfg: GPTConfig, sampler: MixtureSampler, model, opt, where) -> int:
    if ck["model_config"] != gcfg.to_dict():
        raise RuntimeError(f"refusing to {how} from {where}: model was {ck['model_config']}, config now asks for "
                           f"{gcfg.to_dict()}; use another out_dir or set resume: false")
    sampler.resume(ck["sampler"]) if how == "branch" else sampler.load_state_dict(ck["sampler"])
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    return int(ck["step"])


def train(cfg: TrainConfig, quiet: bool = False) -> dict:
    # -- setup: data, schedule, model, optimizer, ranks
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_path, ckpt_path = out / "log.jsonl", out / "ckpt.pt"
    device = _device(cfg)
    ranks = Ranks(device)
    torch.manual_seed(cfg.seed)
    mixture = load_mixture(cfg.mixture)
    schedule = build_schedule(cfg.schedule, mixture)
    ck, how = _starting_point(cfg, ckpt_path, device)
    start = (ck["sampler"].get("start") if how == "resume" else ck["sampler"]) if ck else None
    sampler = MixtureSampler(mixture, batch_size=cfg.batch_size, block_size=cfg.block_size,
                             total_steps=cfg.steps, schedule=schedule, seed=cfg.seed, start=start)
    pieces = ranks.world * cfg.grad_accum
    if cfg.batch_size % pieces:
        raise MixtureError(f"batch_size={cfg.batch_size} (the global batch) does not split over {ranks.world} "
                           f"rank(s) x grad_accum={cfg.grad_accum}; make it a multiple of {pieces}")
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

    # -- resume, or branch off another run's checkpoint
    step = 0
    if ck is not None:
        step = _restore(ck, how, gcfg, sampler, model, opt, ckpt_path if how == "resume" else cfg.init_from)
    if ranks.main:
        if how == "resume":
            _keep_log_until(log_path, step)
        elif log_path.exists():
            log_path.unlink()
    ranks.barrier()

    try:
        last = _loop(cfg, ranks, sampler, schedule, model, opt, held, plan, step, how, device, log_path,
                     ckpt_path, gcfg, quiet)
    finally:
        ranks.close()
    step, last, seconds, tokens0 = last
    if ranks.main:
        plot_heldout(log_path, out / "loss.png")
        plot_weights(log_path, out / "weights.png")
    final = heldout_losses(model, held, device)
    return {"steps": step, "final_loss": last, "heldout": final, "seconds": round(seconds, 2),
            "tokens_per_s": round((step * cfg.batch_size * cfg.block_size - tokens0) / max(seconds, 1e-9), 1),
            "epochs": sampler.epochs_seen(), "params": model.num_params(), "device": device.type,
            "world_size": ranks.world, "out_dir": str(out)}


def _loop(cfg, ranks, sampler, schedule, model, opt, held, plan, step, how, device, log_path, ckpt_path, gcfg,
          quiet):
    """The training steps from `step` to the end (or stop_at): returns (step, last loss, seconds, tokens0)."""
    ddp = torch.nn.parallel.DistributedDataParallel(model) if ranks.world > 1 else model
    fwd = torch.compile(ddp) if device.type == "cuda" and cfg.compile else ddp
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    names = sampler.domains
    pieces = ranks.world * cfg.grad_accum
    # per domain since the last log line: loss sum, rows, and the digest of the rows (summed over ranks)
    acc = torch.zeros(3, len(names), dtype=torch.float64)
    t0, tokens0, last = time.time(), step * cfg.batch_size * cfg.block_size, None
    sampler.step = step
    with open(log_path, "a") if ranks.main else open(os.devnull, "w") as log:
        def emit(rec):
            log.write(json.dumps(rec) + "\n")
            log.flush()

        if how != "resume":
            emit({"step": step, "plan": {d: {k: (round(v, 4) if k == "epochs" else v) for k, v in p.items()}
                                         for d, p in plan.items()},
                  **({"branched_from": str(cfg.init_from), "cursors": sampler.cursors(step)} if step else {})})
        end = min(cfg.steps, cfg.stop_at or cfg.steps)
        while step < end:
            lr = cfg.lr * lr_multiplier(cfg, schedule, step)
            for g in opt.param_groups:
                g["lr"] = lr
            lw = schedule.loss_weights_at(step, cfg.steps)  # 1.0 per domain unless the schedule upweights
            opt.zero_grad(set_to_none=True)
            total = torch.zeros((), dtype=torch.float64)
            for k in range(cfg.grad_accum):
                x, y, dom = sampler.micro_batch(step, k * ranks.world + ranks.rank, pieces)
                xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
                sync = k == cfg.grad_accum - 1 or ranks.world == 1
                with autocast, (ddp.no_sync() if not sync else contextlib.nullcontext()):
                    losses = fwd(xt, yt)
                    w = torch.tensor([lw.get(names[d], 1.0) for d in dom], device=device)
                    # sum over this rank's rows / (rows per rank): DDP's mean over ranks makes it the global mean
                    loss = (losses * w).sum() / (cfg.batch_size // ranks.world)
                    loss.backward()
                total += loss.detach().double().cpu()
                per = losses.detach().double().cpu().numpy()
                np.add.at(acc[0].numpy(), dom, per)
                np.add.at(acc[1].numpy(), dom, 1)
                for d in np.unique(dom):
                    acc[2, d] += row_digest(x[dom == d])  # exact in float64 below 2^53
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            sampler.step = step
            last = float(ranks.sum(total)) / ranks.world

            if step % cfg.log_every == 0 or step == cfg.steps:
                ranks.sum(acc)
                seen = step * cfg.batch_size * cfg.block_size
                rec = {"step": step, "loss": round(last, 5), "lr": lr,
                       "tokens": seen, "tokens_per_s": round((seen - tokens0) / max(time.time() - t0, 1e-9), 1),
                       "weights": {d: round(w, 5) for d, w in schedule.weights_at(step - 1, cfg.steps).items()},
                       "epochs": sampler.epochs_seen(),
                       "domain_tokens": {d: int(acc[1, i]) * cfg.block_size for i, d in enumerate(names)},
                       "rows_digest": {d: int(acc[2, i]) for i, d in enumerate(names) if acc[1, i]},
                       "train": {d: round(float(acc[0, i] / acc[1, i]), 5) for i, d in enumerate(names) if acc[1, i]}}
                emit(rec)
                acc.zero_()
                if not quiet and ranks.main:
                    left = eta(seen - tokens0, end * cfg.batch_size * cfg.block_size - tokens0, time.time() - t0)
                    print(f"step {step}/{cfg.steps} loss {last:.4f} lr {lr:.2e} {rec['tokens_per_s']:.0f} tok/s"
                          f"  ETA {left}", file=sys.stderr, flush=True)
            # -- eval, and a dynamic schedule's update from it
            dyn_due = sampler.update_due(step)
            if step % cfg.eval_every == 0 or step == cfg.steps or dyn_due:
                losses_now = heldout_losses(model, held, device, ranks)
                emit({"step": step, "heldout": losses_now})
                new = sampler.report_losses(step, losses_now) if dyn_due else None
                if new is not None:
                    emit({"step": step, "dynamic_weights": {d: round(v, 6) for d, v in new.items()},
                          "from_step": step + 1})
            # -- checkpoint
            if step % cfg.ckpt_every == 0 or step == end:
                if ranks.main:
                    _save(ckpt_path, {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                      "sampler": sampler.state_dict(), "model_config": gcfg.to_dict(),
                                      "train_config": cfg.model_dump(mode="json")})
                ranks.barrier()
    return step, last, time.time() - t0, tokens0


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
