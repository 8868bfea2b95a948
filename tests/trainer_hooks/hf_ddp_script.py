"""Run by test_distributed.py under torchrun: a tiny GPT-2 in a real Trainer (DDP, gloo on CPU) on a mixture,
each rank appending the rows of every micro-batch it trains on, with the optimizer step, to seen-rank{r}.jsonl."""
import argparse
import json
import os
import sys
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

from gristmill.trainer_hooks.hf import MixtureCallback, MixtureDataset
from gristmill.trainer_hooks.sampler import MixtureSampler


class Recording(Trainer):
    def training_step(self, model, inputs, num_items_in_batch=None):
        with open(Path(self.args.output_dir) / f"seen-rank{self.args.process_index}.jsonl", "a") as fh:
            fh.write(json.dumps({"step": self.state.global_step, "rows": inputs["input_ids"].tolist()}) + "\n")
        return super().training_step(model, inputs, num_items_in_batch)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step >= self.step:
            control.should_training_stop = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mixture")
    p.add_argument("out")
    p.add_argument("--accum", type=int, default=1)
    p.add_argument("--stop-at", type=int)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    world = int(os.environ.get("WORLD_SIZE", 1))
    steps, batch = 6, 8
    sampler = MixtureSampler(a.mixture, batch_size=batch, block_size=8, total_steps=steps, seed=3)
    data = MixtureDataset(sampler)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=8, n_embd=16, n_layer=1, n_head=2))
    args = TrainingArguments(output_dir=a.out, max_steps=steps, per_device_train_batch_size=batch // world // a.accum,
                             gradient_accumulation_steps=a.accum, save_strategy="steps", save_steps=3,
                             report_to=[], use_cpu=True, disable_tqdm=True, learning_rate=1e-3, logging_steps=3)
    trainer = Recording(model=model, args=args, train_dataset=data,
                        callbacks=[MixtureCallback(sampler, data)] + ([StopAt(a.stop_at)] if a.stop_at else []))
    trainer.train(resume_from_checkpoint=True if a.resume else None)


if __name__ == "__main__":
    main()
    # every write is closed and the Trainer's checkpoints are saved; gloo's threads can still abort the
    # interpreter's finalization (SIGABRT, ~1 run in 8 on 2 busy cores), as in examples/hf_trainer.py
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
