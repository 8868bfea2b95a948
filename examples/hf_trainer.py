"""A Hugging Face Trainer fed by a gristmill mixture: MixtureDataset + MixtureCallback (trainer_hooks/hf.py).

    python examples/hf_trainer.py --mixture runs/mix-demo/mixture.json --steps 200 --out runs/hf-demo
    torchrun --standalone --nproc_per_node 2 examples/hf_trainer.py ...   # DDP: the same stream over 2 ranks

A small GPT-2 (built from a config, random init; nothing is downloaded) trains on the mixture's weights, then
on its smallest domain upsampled 4x for the second half. Rerun with --resume after an interruption: the
stream continues where the checkpoint left it. At the end the domains the model saw are compared with the
schedule per window of steps, as in plain_torch_loop.py; exit 1 if a window is off. `--batch` is the global
batch of one optimizer step: each of N ranks trains on --batch / N rows per step.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from gristmill.trainer_hooks.adapters import check_shares
from gristmill.trainer_hooks.hf import MixtureCallback, MixtureDataset
from gristmill.trainer_hooks.mixture import load_mixture
from gristmill.trainer_hooks.sampler import MixtureSampler
from gristmill.trainer_hooks.schedules import EndUpsample, Static


class DomainCountingTrainer(Trainer):
    """Takes the `domain` column out of each batch (the model does not accept it) and keeps it."""
    seen: list

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.seen.append(inputs.pop("domain").tolist())
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mixture", default="runs/mix-demo/mixture.json")
    p.add_argument("--out", default="runs/hf-demo")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--window", type=int, default=0, help="steps per share check (default: steps / 4)")
    a = p.parse_args(argv)

    mixture = load_mixture(a.mixture)
    smallest = min(mixture.tokens, key=mixture.tokens.get)
    schedule = EndUpsample(Static(mixture.weights), domains=[smallest], factor=4.0, last_fraction=0.5)
    sampler = MixtureSampler(mixture, batch_size=a.batch, block_size=a.block, total_steps=a.steps,
                             schedule=schedule, seed=0)
    data = MixtureDataset(sampler, with_domain=True)
    world = int(os.environ.get("WORLD_SIZE", 1))

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=mixture.vocab_size, n_positions=a.block, n_embd=32,
                                       n_layer=1, n_head=2))
    args = TrainingArguments(output_dir=a.out, max_steps=a.steps, per_device_train_batch_size=a.batch // world,
                             dataloader_num_workers=a.workers, save_strategy="steps",
                             save_steps=max(a.steps // 2, 1), logging_steps=max(a.steps // 10, 1),
                             learning_rate=3e-3, report_to=[], disable_tqdm=True,
                             use_cpu=not torch.cuda.is_available(),  # on CPU this makes torchrun ranks run DDP
                             remove_unused_columns=False)  # keep `domain` for the count below
    trainer = DomainCountingTrainer(model=model, args=args, train_dataset=data,
                                    callbacks=[MixtureCallback(sampler, data)])
    trainer.seen = []
    trainer.train(resume_from_checkpoint=True if a.resume else None)

    seen = trainer.seen
    if world > 1:  # every rank saw its part of each step: gather them on rank 0
        import torch.distributed as dist
        parts = [None] * world
        dist.all_gather_object(parts, seen)
        rank = dist.get_rank()
        # leave the group before exiting: a gloo group torn down at interpreter exit can abort the process
        # ("terminate called without an active exception") after the work is done
        dist.destroy_process_group()
        if rank != 0:
            return 0
        seen = [sum((p[t] for p in parts), []) for t in range(len(seen))]
    first = a.steps - len(seen)  # a resumed run starts at the checkpoint's step
    from plain_torch_loop import report
    return report(check_shares(sampler, seen, a.window or max(a.steps // 4, 1), start=first))


if __name__ == "__main__":
    code = main()
    # the work is done and reported; gloo's threads can still abort the interpreter's finalization (SIGABRT,
    # "terminate called without an active exception", pytorch/pytorch#179291; ~1 run in 8 on 2 busy cores)
    # even after destroy_process_group, so leave without it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
