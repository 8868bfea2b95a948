"""Your own PyTorch loop on several ranks: DistributedDataParallel under torchrun, fed by a gristmill mixture.

    torchrun --standalone --nproc_per_node 2 examples/ddp_torch_loop.py --mixture runs/mix-demo/mixture.json

`--batch` is the global batch of one optimizer step. Rank r of N trains on micro-batches k*N + r of each step
(`sampler.micro_batch`), so the union over ranks is the schedule's batch, whatever N and `--accum`. At the end
rank 0 gathers the domains every rank trained on and compares them with the schedule, per window of steps, as
plain_torch_loop.py does; exit 1 if a window is off. Gloo on CPU, NCCL on CUDA.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys

import torch
import torch.distributed as dist

from gristmill.trainer_hooks.adapters import check_shares
from gristmill.trainer_hooks.mixture import load_mixture
from gristmill.trainer_hooks.model import GPT, GPTConfig
from gristmill.trainer_hooks.sampler import MixtureSampler
from gristmill.trainer_hooks.schedules import EndUpsample, Static


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mixture", default="runs/mix-demo/mixture.json")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=16, help="global batch (all ranks, all micro-batches)")
    p.add_argument("--accum", type=int, default=1, help="micro-batches per step on each rank")
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--window", type=int, default=0, help="steps per share check (default: steps / 4)")
    a = p.parse_args(argv)

    # -- ranks
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")

    # -- data: every rank builds the same sampler (a pure function of seed and step)
    mixture = load_mixture(a.mixture)
    smallest = min(mixture.tokens, key=mixture.tokens.get)
    schedule = EndUpsample(Static(mixture.weights), domains=[smallest], factor=4.0, last_fraction=0.5)
    sampler = MixtureSampler(mixture, batch_size=a.batch, block_size=a.block, total_steps=a.steps,
                             schedule=schedule, seed=0)
    pieces = world * a.accum

    # -- model: the same init on every rank, DDP averages the gradients
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=mixture.vocab_size, block_size=a.block, n_layer=1, n_head=2, n_embd=32))
    ddp = torch.nn.parallel.DistributedDataParallel(model.to(device))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    # -- the loop
    seen = []
    for step in range(a.steps):
        opt.zero_grad(set_to_none=True)
        mine = []
        for k in range(a.accum):
            x, y, dom = sampler.micro_batch(step, k * world + rank, pieces)
            last = k == a.accum - 1
            with contextlib.nullcontext() if last else ddp.no_sync():
                # forward(x, y) returns per-sequence losses; sum / rows per rank, DDP's mean makes it global
                loss = ddp(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)).sum() / (a.batch // world)
                loss.backward()
            mine += dom.tolist()
        opt.step()
        seen.append(mine)
        if rank == 0 and (step + 1) % max(a.steps // 10, 1) == 0:
            print(f"step {step + 1}/{a.steps} loss {loss.item() * a.accum:.3f}", flush=True)

    # -- did the ranks together see the schedule?
    everyone = [None] * world
    dist.all_gather_object(everyone, seen)
    dist.destroy_process_group()
    if rank != 0:
        return 0
    union = [sum((r[t] for r in everyone), []) for t in range(a.steps)]
    from plain_torch_loop import report
    return report(check_shares(sampler, union, a.window or max(a.steps // 4, 1)))


if __name__ == "__main__":
    code = main()
    # the work is done and reported; gloo's threads can still abort the interpreter's finalization (SIGABRT,
    # "terminate called without an active exception", pytorch/pytorch#179291; ~1 run in 8 on 2 busy cores)
    # even after destroy_process_group, so leave without it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
