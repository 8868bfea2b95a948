"""The Hugging Face plugin in a real transformers.Trainer (accelerate installed): a tiny GPT2LMHeadModel
(config-built, random init) trains 20 steps on a schedule that switches at step 10; the rows the model sees at
each optimizer step are exactly the schedule's batch of that step, with 0 and 2 DataLoader workers, with
gradient accumulation, and across a resume from a checkpoint (on transformers 4.57 and 5.x alike)."""
import numpy as np
import pytest

pytest.importorskip("accelerate")
import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from gristmill.trainer_hooks.adapters import check_shares  # noqa: E402
from gristmill.trainer_hooks.hf import STATE_FILE, MixtureCallback, MixtureDataset  # noqa: E402
from gristmill.trainer_hooks.mixture import MixtureError, load_mixture  # noqa: E402
from gristmill.trainer_hooks.sampler import MixtureSampler  # noqa: E402
from gristmill.trainer_hooks.schedules import Phase, Phases, Static  # noqa: E402

RANGES = {"code": (100, 200), "math": (200, 300), "web": (0, 100)}  # a row's tokens name its domain
STEPS, BATCH, BLOCK = 20, 16, 16
FINAL = {"math": 0.9, "web": 0.1, "code": 0.0}


@pytest.fixture(scope="module")
def mixture(tmp_path_factory, make_mixture):
    rng = np.random.default_rng(0)
    doms = {d: (rng.integers(lo, hi, n), rng.integers(lo, hi, 200))
            for (d, (lo, hi)), n in zip(RANGES.items(), (20000, 20000, 20000))}
    return load_mixture(make_mixture(tmp_path_factory.mktemp("hf"), doms, vocab_size=300))


def _sampler(mixture):
    sched = Phases([Phase(0.0, 0.5, Static({"web": 0.6, "code": 0.3, "math": 0.1})), Phase(0.5, 1.0, Static(FINAL))])
    return MixtureSampler(mixture, batch_size=BATCH, block_size=BLOCK, total_steps=STEPS, schedule=sched, seed=7)


def _rows(x) -> list[tuple]:
    """A step's rows as a sorted list: what the union over micro-batches and ranks is compared by."""
    return sorted(map(tuple, np.asarray(x).tolist()))


def _by_step(micro_batches, per_step):
    return [_rows(np.concatenate(micro_batches[i:i + per_step])) for i in range(0, len(micro_batches), per_step)]


class Recording(Trainer):
    """Records the input_ids of every micro-batch the model trains on (main process, after the DataLoader)."""
    seen: list

    def training_step(self, model, inputs, num_items_in_batch=None):
        self.seen.append(inputs["input_ids"].cpu().numpy().copy())
        return super().training_step(model, inputs, num_items_in_batch)


class StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step >= self.step:
            control.should_training_stop = True


def _train(mixture, out, workers, resume=False, stop_at=None, accum=1, save_steps=10):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=BLOCK, n_embd=16, n_layer=1, n_head=2))
    sampler = _sampler(mixture)
    data = MixtureDataset(sampler)
    args = TrainingArguments(output_dir=str(out), max_steps=STEPS, per_device_train_batch_size=BATCH // accum,
                             gradient_accumulation_steps=accum,
                             dataloader_num_workers=workers, save_strategy="steps", save_steps=save_steps,
                             logging_steps=5, report_to=[], use_cpu=True, disable_tqdm=True, learning_rate=1e-3)
    cbs = [MixtureCallback(sampler, data)] + ([StopAt(stop_at)] if stop_at else [])
    trainer = Recording(model=model, args=args, train_dataset=data, callbacks=cbs)
    trainer.seen = []
    trainer.train(resume_from_checkpoint=True if resume else None)
    return trainer.seen


def _domains(batch):
    return [next(k for k, (lo, hi) in enumerate(RANGES.values()) if lo <= row[0] < hi) for row in batch]


@pytest.mark.parametrize("workers", [0, 2])
def test_trainer_sees_the_schedule_stream_and_resumes_it(mixture, tmp_path, workers):
    reference = [_rows(_sampler(mixture).batch(m)[0]) for m in range(STEPS)]
    seen = _train(mixture, tmp_path / "straight", workers)
    assert len(seen) == STEPS
    assert _by_step(seen, 1) == reference  # no drift, no late switch, any worker count
    # the schedule, per window of 10 steps: sorted(RANGES) == sampler.domains, so indices agree
    rows = check_shares(_sampler(mixture), [_domains(b) for b in seen], window=10)
    assert all(r["ok"] for r in rows), rows
    final_math = next(r for r in rows if r["steps"] == (10, 19) and r["domain"] == "math")
    # 160 rows at p = 0.9: sd = sqrt(0.9 * 0.1 / 160) = 0.024, so 4 sd = 0.095
    assert abs(final_math["seen_share"] - 0.9) <= 4 * (0.9 * 0.1 / 160) ** 0.5

    # interrupted at step 6 (checkpoint-6 holds mixture_sampler.json), then resumed by a fresh Trainer. A double
    # skip (the dataset resumes at 6 and the Trainer fast-forwards 6 more) would train on 12..19 and then, in the
    # Trainer's next pass over the dataset, 6..9: the right count in the wrong order, caught here
    out = tmp_path / "resumed"
    first = _train(mixture, out, workers, stop_at=6, save_steps=6)
    assert len(first) == 6 and (out / "checkpoint-6" / STATE_FILE).exists()
    rest = _train(mixture, out, workers, resume=True, save_steps=6)
    assert len(rest) == 14
    assert _by_step(first + rest, 1) == reference


def test_gradient_accumulation_splits_each_step_and_resumes(mixture, tmp_path):
    """4 micro-batches of 4 rows per optimizer step: their union is the schedule's batch of 16 rows, straight and
    resumed from step 7."""
    reference = [_rows(_sampler(mixture).batch(m)[0]) for m in range(STEPS)]
    seen = _train(mixture, tmp_path / "straight", 0, accum=4)
    assert len(seen) == 4 * STEPS and all(len(b) == 4 for b in seen)
    assert _by_step(seen, 4) == reference
    out = tmp_path / "resumed"
    first = _train(mixture, out, 0, stop_at=7, accum=4, save_steps=7)
    rest = _train(mixture, out, 0, resume=True, accum=4, save_steps=7)
    assert len(first) == 28 and len(rest) == 52
    assert _by_step(first + rest, 4) == reference


def test_mismatched_trainer_settings_are_refused(mixture, tmp_path):
    sampler = _sampler(mixture)
    data = MixtureDataset(sampler)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=BLOCK, n_embd=16, n_layer=1, n_head=2))
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=STEPS, per_device_train_batch_size=BATCH,
                             gradient_accumulation_steps=2, report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[MixtureCallback(sampler, data)])
    with pytest.raises(MixtureError, match="16 x 2 x 1 but the sampler's global batch is 16.*batch_size=32"):
        trainer.train()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=STEPS * 2, per_device_train_batch_size=BATCH,
                             report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[MixtureCallback(sampler, data)])
    with pytest.raises(MixtureError, match="max_steps=40 optimizer steps but the sampler's schedule spans "
                                           "total_steps=20"):
        trainer.train()


def _dynamic_train(mixture, out, resume=False, stop_at=None, workers=0):
    from gristmill.trainer_hooks.schedules import Dynamic
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=BLOCK, n_embd=16, n_layer=1, n_head=2))
    sched = Dynamic({"web": 0.4, "code": 0.3, "math": 0.3}, {"code": 0.0, "math": 100.0, "web": 100.0}, every=5,
                    eta=0.3)
    sampler = MixtureSampler(mixture, batch_size=BATCH, block_size=BLOCK, total_steps=STEPS, schedule=sched, seed=7)
    data = MixtureDataset(sampler)
    args = TrainingArguments(output_dir=str(out), max_steps=STEPS, per_device_train_batch_size=BATCH,
                             dataloader_num_workers=workers, save_strategy="steps", save_steps=10, logging_steps=1,
                             report_to=[], use_cpu=True, disable_tqdm=True, learning_rate=1e-3)
    cbs = [MixtureCallback(sampler, data)] + ([StopAt(stop_at)] if stop_at else [])
    trainer = Recording(model=model, args=args, train_dataset=data, callbacks=cbs)
    trainer.seen = []
    trainer.train(resume_from_checkpoint=True if resume else None)
    return trainer.seen, [float(sampler.weights_at(t)[0]) for t in range(STEPS)]  # sampler.domains[0] == "code"


def test_dynamic_weights_in_the_trainer_follow_the_loss_and_resume(mixture, tmp_path):
    seen, code = _dynamic_train(mixture, tmp_path / "straight")
    assert code[0] == pytest.approx(0.3) and code == sorted(code) and code[-1] > 0.5  # code lags: it gains weight
    assert code[5] == code[0] < code[6]  # measured after 5 steps, serving from step 6 on
    codes = [np.mean([d == 0 for d in _domains(b)]) for b in seen]  # sorted(RANGES)[0] == "code"
    assert np.mean(codes[15:]) > np.mean(codes[:5])
    first, _ = _dynamic_train(mixture, tmp_path / "resumed", stop_at=10)
    rest, _ = _dynamic_train(mixture, tmp_path / "resumed", resume=True)
    assert _by_step(first + rest, 1) == _by_step(seen, 1)
    with pytest.raises(MixtureError, match="dataloader_num_workers=0"):
        _dynamic_train(mixture, tmp_path / "workers", workers=2)


def test_a_decay_branches_off_a_trainer_checkpoint(mixture, tmp_path):
    """Stable phase to checkpoint-10, then a branch with 16 steps whose last quarter is the final mixture: it
    continues the stable stream for steps 10 and 11 and then trains on its own final mixture."""
    import json

    from gristmill.trainer_hooks.schedules import EndUpsample
    stable_w = {"web": 0.6, "code": 0.3, "math": 0.1}
    _train(mixture, tmp_path / "stable", 0, stop_at=10)
    state = json.loads((tmp_path / "stable" / "checkpoint-10" / STATE_FILE).read_text())
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=BLOCK, n_embd=16, n_layer=1, n_head=2))
    sampler = MixtureSampler(mixture, batch_size=BATCH, block_size=BLOCK, total_steps=16, seed=7, start=state,
                             schedule=EndUpsample(Static(stable_w), weights=FINAL, last_fraction=0.25))
    data = MixtureDataset(sampler)
    args = TrainingArguments(output_dir=str(tmp_path / "branch"), max_steps=16, per_device_train_batch_size=BATCH,
                             save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, learning_rate=1e-3)
    trainer = Recording(model=model, args=args, train_dataset=data, callbacks=[MixtureCallback(sampler, data)])
    trainer.seen = []
    trainer.train(resume_from_checkpoint=str(tmp_path / "stable" / "checkpoint-10"))
    assert len(trainer.seen) == 6  # steps 10..15 only
    stable = MixtureSampler(mixture, batch_size=BATCH, block_size=BLOCK, total_steps=STEPS, seed=7,
                            schedule=Static(stable_w))
    assert _by_step(trainer.seen[:2], 1) == [_rows(stable.batch(t)[0]) for t in (10, 11)]
    math_share = np.mean([d == 1 for b in trainer.seen[2:] for d in _domains(b)])  # sorted(RANGES)[1] == "math"
    assert math_share > 0.75  # FINAL gives math 0.9
