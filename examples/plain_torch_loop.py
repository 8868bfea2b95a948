"""A plain PyTorch loop fed by a gristmill mixture: the schedule's batches through a DataLoader with workers.

    python examples/plain_torch_loop.py --mixture runs/mix-demo/mixture.json --steps 200

The schedule follows the mixture's weights, then upsamples its smallest domain 4x in the second half. At the
end the loop compares the domains it trained on with the schedule, per window of steps (binomial z-scores,
see trainer_hooks/adapters.py:check_shares) and exits 1 if a window is off.
"""
from __future__ import annotations

import argparse
import sys

import torch
from torch.utils.data import DataLoader

from gristmill.trainer_hooks.adapters import MixtureBatches, check_shares
from gristmill.trainer_hooks.mixture import load_mixture
from gristmill.trainer_hooks.model import GPT, GPTConfig
from gristmill.trainer_hooks.sampler import MixtureSampler
from gristmill.trainer_hooks.schedules import EndUpsample, Static


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mixture", default="runs/mix-demo/mixture.json")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--window", type=int, default=0, help="steps per share check (default: steps / 4)")
    a = p.parse_args(argv)

    # -- data: a schedule and the sampler that follows it
    mixture = load_mixture(a.mixture)
    smallest = min(mixture.tokens, key=mixture.tokens.get)
    schedule = EndUpsample(Static(mixture.weights), domains=[smallest], factor=4.0, last_fraction=0.5)
    sampler = MixtureSampler(mixture, batch_size=a.batch, block_size=a.block, total_steps=a.steps,
                             schedule=schedule, seed=0)
    loader = DataLoader(MixtureBatches(sampler), batch_size=None, num_workers=a.workers)

    # -- model and optimizer
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=mixture.vocab_size, block_size=a.block, n_layer=1, n_head=2, n_embd=32))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)

    # -- the loop
    seen = []
    for step, (x, y, dom) in enumerate(loader):
        loss = model.token_losses(x, y).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen.append(dom.tolist())
        if (step + 1) % max(a.steps // 10, 1) == 0:
            print(f"step {step + 1}/{a.steps} loss {loss.item():.3f}", flush=True)

    # -- did the loop see the schedule?
    rows = check_shares(sampler, seen, a.window or max(a.steps // 4, 1))
    return report(rows)


def report(rows) -> int:
    print(f"{'steps':>12} {'domain':>12} {'expected':>9} {'seen':>7} {'z':>6}")
    for r in rows:
        print(f"{str(r['steps']):>12} {r['domain']:>12} {r['expected_share']:9.3f} {r['seen_share']:7.3f} "
              f"{r['z']:6.2f}{'' if r['ok'] else '  <-- off schedule'}")
    bad = [r for r in rows if not r["ok"]]
    print("shares follow the schedule" if not bad else f"{len(bad)} window(s) off schedule")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
