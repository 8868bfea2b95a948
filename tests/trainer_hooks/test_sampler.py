"""MixtureSampler over real memmapped shards: proportions, determinism, resume, refusals, adapters."""
import json

import numpy as np
import pytest
import torch

from gristmill.trainer_hooks.mixture import MixtureError, load_mixture
from gristmill.trainer_hooks.sampler import MixtureSampler
from gristmill.trainer_hooks.schedules import EndUpsample, ScheduleError, Static

# each domain's tokens live in their own id range, so every row shows which domain it came from
RANGES = {"web": (0, 100), "code": (100, 200), "math": (200, 300)}


def _ids(domain, n, seed=0):
    lo, hi = RANGES[domain]
    return np.random.default_rng(seed).integers(lo, hi, n)


@pytest.fixture
def mixture_path(tmp_path, make_mixture):
    doms = {d: (_ids(d, n), _ids(d, 500, 1)) for d, n in (("web", 20000), ("code", 6000), ("math", 3000))}
    return make_mixture(tmp_path / "mix", doms, vocab_size=300, weights={"web": 0.6, "code": 0.3, "math": 0.1})


def _domain_of_rows(x):
    return [next(d for d, (lo, hi) in RANGES.items() if lo <= row[0] < hi) for row in x]


def test_rows_come_from_their_domain_and_follow_the_weights(mixture_path):
    s = MixtureSampler(mixture_path, batch_size=64, block_size=16, total_steps=200, seed=3)
    counts = dict.fromkeys(RANGES, 0)
    for x, y, dom in s:
        assert x.shape == (64, 16) and y.shape == (64, 16)
        assert (x[:, 1:] == y[:, :-1]).all()  # y is x shifted by one
        names = [s.domains[k] for k in dom]
        assert names == _domain_of_rows(x)
        for n in names:
            counts[n] += 1
    total = sum(counts.values())
    assert total == 64 * 200
    assert counts["web"] / total == pytest.approx(0.6, abs=0.02)
    assert counts["math"] / total == pytest.approx(0.1, abs=0.015)


def test_upsampling_schedule_changes_proportions_at_the_end(mixture_path):
    m = load_mixture(mixture_path)
    sched = EndUpsample(Static(m.weights), domains=["math"], factor=5.0, last_fraction=0.25)
    s = MixtureSampler(m, batch_size=128, block_size=8, total_steps=40, schedule=sched, seed=0)
    share = [np.mean([s.domains[k] == "math" for k in d]) for _, _, d in s]
    early, late = np.mean(share[:30]), np.mean(share[30:])
    assert early == pytest.approx(0.1, abs=0.03)
    assert late == pytest.approx(0.5 / 1.4, abs=0.05)  # 0.1*5 / (0.6 + 0.3 + 0.5)


def test_same_seed_same_stream_other_seed_differs(mixture_path):
    a = [b[0] for b in MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=5, seed=1)]
    b = [b[0] for b in MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=5, seed=1)]
    c = [b[0] for b in MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=5, seed=2)]
    assert all((p == q).all() for p, q in zip(a, b))
    assert not all((p == q).all() for p, q in zip(a, c))


def test_resume_continues_the_identical_stream(mixture_path):
    full = [b for b in MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=10, seed=5)]
    first = MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=10, seed=5)
    for _ in range(4):
        next(first)
    state = json.loads(json.dumps(first.state_dict()))  # survives a trip through JSON
    resumed = MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=10, seed=5)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == 6
    for (x1, y1, d1), (x2, y2, d2) in zip(full[4:], rest):
        assert (x1 == x2).all() and (y1 == y2).all() and (d1 == d2).all()


def test_resume_with_a_different_mixture_or_settings_is_refused(mixture_path, tmp_path, make_mixture):
    s = MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=10)
    state = s.state_dict()
    other = make_mixture(tmp_path / "other", {"web": (_ids("web", 5000), _ids("web", 100)),
                                               "code": (_ids("code", 5000), _ids("code", 100))}, vocab_size=300)
    with pytest.raises(MixtureError, match="refusing to resume.*different mixture"):
        MixtureSampler(other, batch_size=4, block_size=8, total_steps=10).load_state_dict(state)
    with pytest.raises(MixtureError, match="refusing to resume: batch_size"):
        MixtureSampler(mixture_path, batch_size=8, block_size=8, total_steps=10).load_state_dict(state)
    m = load_mixture(mixture_path)
    up = EndUpsample(Static(m.weights), domains=["math"], factor=2.0, last_fraction=0.5)
    with pytest.raises(MixtureError, match="schedule changed"):
        MixtureSampler(m, batch_size=4, block_size=8, total_steps=10, schedule=up).load_state_dict(state)


def test_old_or_broken_mixture_files_give_clear_errors(mixture_path):
    raw = json.loads(mixture_path.read_text())
    raw["version"] = 0
    mixture_path.write_text(json.dumps(raw))
    with pytest.raises(MixtureError, match="version 0 but this gristmill reads version 1.*rerun the `mix`"):
        load_mixture(mixture_path)
    mixture_path.write_text("{not json")
    with pytest.raises(MixtureError, match="not valid JSON"):
        load_mixture(mixture_path.parent)
    with pytest.raises(MixtureError, match="does not exist"):
        load_mixture(mixture_path.parent / "nope.json")


def test_zero_token_domain_with_weight_is_refused(tmp_path, make_mixture):
    path = make_mixture(tmp_path / "m", {"web": (_ids("web", 5000), _ids("web", 100)),
                                          "math": (np.array([], dtype=np.int64), np.array([], dtype=np.int64))},
                         vocab_size=300, weights={"web": 0.9, "math": 0.1})
    with pytest.raises(MixtureError, match=r"\['math'\] get weight.*no train window"):
        MixtureSampler(path, batch_size=4, block_size=8, total_steps=10)
    # weight 0 for the empty domain is fine
    s = MixtureSampler(path, batch_size=4, block_size=8, total_steps=10, schedule=Static({"web": 1.0, "math": 0.0}))
    assert set(s.domains[k] for k in next(s)[2]) == {"web"}
    with pytest.raises(MixtureError, match="does not have"):
        MixtureSampler(path, batch_size=4, block_size=8, total_steps=10, schedule=Static({"law": 1.0}))
    with pytest.raises(ScheduleError):
        MixtureSampler(path, batch_size=4, block_size=8, total_steps=0)


def test_torch_iterable_dataset_matches_the_sampler(mixture_path):
    from torch.utils.data import DataLoader

    from gristmill.trainer_hooks.adapters import MixtureBatches
    ref = list(MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=6, seed=9))
    ds = MixtureBatches(MixtureSampler(mixture_path, batch_size=4, block_size=8, total_steps=6, seed=9))
    got = list(DataLoader(ds, batch_size=None))
    assert len(got) == 6 and ds.sampler.step == 6
    for (x1, _, d1), (x2, _, d2) in zip(ref, got):
        assert isinstance(x2, torch.Tensor) and (x2.numpy() == x1).all() and (d2.numpy() == d1).all()


# -- epochs: a seeded permutation per epoch, no replacement inside one ------------------------------------------
def _counting_mixture(make_mixture, folder, n_windows, block):
    """One domain whose window j starts with token j*block (tokens are 0, 1, 2, ...), so a row names its window."""
    ids = np.arange(n_windows * block + 1)
    return make_mixture(folder, {"count": (ids, ids[:50])}, vocab_size=int(ids.max()) + 1)


def test_one_nominal_epoch_covers_every_window_exactly_once(tmp_path, make_mixture):
    block, n = 8, 240
    path = _counting_mixture(make_mixture, tmp_path / "m", n, block)
    s = MixtureSampler(path, batch_size=16, block_size=block, total_steps=2 * n // 16, seed=4)
    assert s.windows.tolist() == [n]
    starts = [int(r[0]) // block for x, _, _ in s for r in x]
    first, second = starts[:n], starts[n:]
    assert sorted(first) == list(range(n))  # 100% of the windows in epoch 1, none twice
    assert sorted(second) == list(range(n))  # and again in epoch 2 ...
    assert first != second  # ... in a fresh order
    assert s.plan()["count"] == {"rows": 2 * n, "tokens": 2 * n * block, "windows": n, "epochs": 2.0}


def test_plan_counts_upsampled_tokens_before_step_zero(mixture_path):
    m = load_mixture(mixture_path)
    sched = EndUpsample(Static(m.weights), domains=["math"], factor=5.0, last_fraction=0.25)
    s = MixtureSampler(m, batch_size=32, block_size=16, total_steps=80, schedule=sched, seed=2)
    plan = s.plan()  # known before any batch is drawn
    seen = dict.fromkeys(s.domains, 0)
    for _, _, dom in s:
        for k in dom:
            seen[s.domains[k]] += 1
    assert {d: v["rows"] for d, v in plan.items()} == seen
    math_windows = (3000 - 1) // 16
    assert plan["math"]["epochs"] == pytest.approx(seen["math"] / math_windows)
    # the upsampled phase raises math's share above its base weight of 0.1
    assert seen["math"] / (32 * 80) > 0.15
    assert s.epochs_seen() == {d: pytest.approx(v["epochs"]) for d, v in plan.items()}


def test_state_carries_cursors_and_epochs_and_a_tampered_state_is_refused(tmp_path, make_mixture):
    block, n = 8, 40
    path = _counting_mixture(make_mixture, tmp_path / "m", n, block)
    s = MixtureSampler(path, batch_size=16, block_size=block, total_steps=10, seed=1)
    for _ in range(3):
        next(s)
    st = json.loads(json.dumps(s.state_dict()))
    assert st["cursors"] == {"count": {"epoch": 1, "position": 8}} and st["epochs_seen"] == {"count": 1.2}
    rest = [x for x, _, _ in s]
    r = MixtureSampler(path, batch_size=16, block_size=block, total_steps=10, seed=1)
    r.load_state_dict(st)
    assert all((a == b).all() for (a, _, _), b in zip(r, rest))
    st["cursors"]["count"]["position"] = 0
    with pytest.raises(MixtureError, match="saved domain cursors"):
        MixtureSampler(path, batch_size=16, block_size=block, total_steps=10, seed=1).load_state_dict(st)


def test_micro_batches_partition_each_step_whatever_the_split(mixture_path):
    s = MixtureSampler(mixture_path, batch_size=24, block_size=8, total_steps=4, seed=2)
    for step in range(4):
        x, y, d = s.batch(step)
        whole = sorted(map(tuple, np.concatenate([x, d[:, None]], axis=1).tolist()))
        for n in (1, 2, 3, 4, 6, 8):  # world size x gradient accumulation
            parts = [s.micro_batch(step, i, n) for i in range(n)]
            assert all(len(p[0]) == 24 // n for p in parts)
            got = sorted(map(tuple, np.concatenate([np.concatenate([p[0], p[2][:, None]], axis=1) for p in parts]
                                                   ).tolist()))
            assert got == whole
    with pytest.raises(MixtureError, match="does not split into 5 equal micro-batches"):
        s.micro_batch(0, 0, 5)
