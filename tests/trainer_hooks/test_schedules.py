"""Schedules and learning-rate multipliers: pure functions, checked against hand-computed values."""
import doctest
import math

import pytest

from gristmill.trainer_hooks import schedules as S


def test_doctests():
    assert doctest.testmod(S).failed == 0


def test_static_normalizes_with_a_warning():
    with pytest.warns(S.MixtureWarning, match="sum to 10"):
        s = S.Static({"web": 7, "code": 2, "wiki": 1})
    assert s.weights_at(0, 100) == pytest.approx({"web": 0.7, "code": 0.2, "wiki": 0.1})


def test_weights_summing_to_one_do_not_warn(recwarn):
    S.Static({"a": 0.25, "b": 0.75})
    assert not [w for w in recwarn if issubclass(w.category, S.MixtureWarning)]


@pytest.mark.parametrize("weights,match", [
    ({}, "no domains"), ({"a": -1.0, "b": 2.0}, ">= 0"), ({"a": 0, "b": 0}, "all weights are zero"),
    ({"a": math.nan}, "finite"),
])
def test_bad_weights_are_errors(weights, match):
    with pytest.raises(S.ScheduleError, match=match):
        S.Static(weights)


def test_temperature_cooldown_moves_from_flat_to_natural():
    tokens = {"big": 900, "small": 100}
    t = S.Temperature(tokens, tau_start=2.0, tau_end=1.0, cooldown=0.5)
    assert t.weights_at(0, 100) == pytest.approx({"big": 0.75, "small": 0.25})
    assert t.weights_at(49, 100) == pytest.approx({"big": 0.75, "small": 0.25})  # before the cooldown
    assert t.tau_at(75, 100) == pytest.approx(1.5)
    assert t.weights_at(100, 100) == pytest.approx({"big": 0.9, "small": 0.1})
    # a zero-token domain never gets weight, whatever the temperature
    z = S.Temperature({"a": 10, "empty": 0}, tau_start=5.0)
    assert z.weights_at(0, 10)["empty"] == 0.0


def test_temperature_with_only_empty_domains_is_an_error():
    with pytest.raises(S.ScheduleError, match="zero tokens"):
        S.Temperature({"a": 0, "b": 0})


def test_end_upsample_by_factor_only_in_the_last_fraction():
    base = S.Static({"web": 0.8, "math": 0.2})
    u = S.EndUpsample(base, domains=["math"], factor=4.0, last_fraction=0.2)
    assert u.weights_at(79, 100) == pytest.approx({"web": 0.8, "math": 0.2})
    assert u.weights_at(80, 100) == pytest.approx({"web": 0.5, "math": 0.5})
    assert u.start_fraction == pytest.approx(0.8)


def test_end_upsample_with_explicit_weights_and_bad_arguments():
    base = S.Static({"web": 0.8, "math": 0.2})
    u = S.EndUpsample(base, weights={"math": 1.0}, last_fraction=0.1)
    assert u.weights_at(95, 100) == {"web": 0.0, "math": 1.0}
    with pytest.raises(S.ScheduleError, match="exactly one"):
        S.EndUpsample(base, domains=["math"], factor=2.0, weights={"math": 1}, last_fraction=0.1)
    with pytest.raises(S.ScheduleError, match="unknown domain"):
        S.EndUpsample(base, domains=["law"], factor=2.0, last_fraction=0.1)
    with pytest.raises(S.ScheduleError, match="last_fraction"):
        S.EndUpsample(base, domains=["math"], factor=2.0, last_fraction=1.5)


def test_phases_compose_and_refuse_overlaps_and_gaps():
    a, b = S.Static({"x": 1.0, "y": 0.0}), S.Static({"x": 0.0, "y": 1.0})
    p = S.Phases([S.Phase(0.5, 1.0, b), S.Phase(0.0, 0.5, a)])  # order given does not matter
    assert p.weights_at(10, 100)["x"] == 1.0 and p.weights_at(50, 100)["y"] == 1.0
    assert p.weights_at(100, 100)["y"] == 1.0
    with pytest.raises(S.ScheduleError, match="overlap"):
        S.Phases([S.Phase(0.0, 0.6, a), S.Phase(0.5, 1.0, b)])
    with pytest.raises(S.ScheduleError, match="gap"):
        S.Phases([S.Phase(0.0, 0.4, a), S.Phase(0.5, 1.0, b)])
    with pytest.raises(S.ScheduleError, match="cover all"):
        S.Phases([S.Phase(0.0, 0.5, a)])


def test_upweight_keeps_sampling_and_scales_losses():
    base = S.Static({"web": 0.8, "math": 0.2})
    target = S.EndUpsample(base, domains=["math"], factor=4.0, last_fraction=0.2)
    u = S.Upweight(target=target, sampling=base)
    assert u.weights_at(90, 100) == base.weights_at(90, 100)
    lw = u.loss_weights_at(90, 100)
    assert lw == pytest.approx({"web": 0.5 / 0.8, "math": 0.5 / 0.2})
    # the expected loss weight under sampling is 1, so the loss scale does not drift
    assert sum(base.weights[d] * lw[d] for d in lw) == pytest.approx(1.0)
    assert u.loss_weights_at(10, 100) == pytest.approx({"web": 1.0, "math": 1.0})


def test_cosine_and_wsd_shapes():
    assert S.cosine_lr(55, 100, warmup=10, min_ratio=0.0) == pytest.approx(0.5)
    vals = [S.cosine_lr(s, 100, warmup=10) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))
    # WSD decay aligned with an upsampling phase that starts at 70%
    u = S.EndUpsample(S.Static({"a": 0.5, "b": 0.5}), domains=["a"], factor=2.0, last_fraction=0.3)
    start = S.upsample_start(u)
    assert S.wsd_lr(69, 100, warmup=5, decay_start=start) == 1.0
    assert S.wsd_lr(84, 100, warmup=5, decay_start=start) == pytest.approx(0.5)  # 15 of 30 decay steps done
    assert S.upsample_start(S.Upweight(target=u, sampling=u.base)) == pytest.approx(0.7)
    assert S.upsample_start(u.base) is None
    with pytest.raises(S.ScheduleError):
        S.wsd_lr(1, 10, decay_start=1.5)


@pytest.mark.parametrize("decay,closed_form", [
    ("linear", lambda f, m: 1 - (1 - m) * f),
    ("exp", lambda f, m: m ** f),  # MiniCPM: exponential
    ("1-sqrt", lambda f, m: 1 - (1 - m) * math.sqrt(f)),  # Hägele et al. 2024
])
def test_wsd_decay_shapes_match_their_closed_forms_and_end_at_the_minimum(decay, closed_form):
    total, warmup, m = 200, 10, 0.05
    d0 = 160  # decay_fraction 0.2
    for step in range(total):
        got = S.wsd_lr(step, total, warmup=warmup, decay_fraction=0.2, min_ratio=m, decay=decay)
        if step < warmup:
            want = (step + 1) / warmup
        elif step < d0:
            want = 1.0
        else:
            want = closed_form((step - d0 + 1) / (total - d0), m)
        assert got == pytest.approx(want, abs=1e-12), step
    assert S.wsd_lr(total - 1, total, decay_fraction=0.2, min_ratio=m, decay=decay) == pytest.approx(m)


def test_wsd_exp_needs_a_positive_minimum_and_unknown_shapes_are_refused():
    with pytest.raises(S.ScheduleError, match="min_ratio > 0"):
        S.wsd_lr(5, 10, min_ratio=0.0, decay="exp")
    with pytest.raises(S.ScheduleError, match="one of"):
        S.wsd_lr(5, 10, decay="cosine")


def test_temperature_weights_match_the_closed_form():
    tokens = {"a": 1e6, "b": 1e4, "c": 1e2}
    for tau in (0.5, 1.0, 2.0, 3.3, 10.0):
        z = sum(n ** (1 / tau) for n in tokens.values())
        assert S.temperature_weights(tokens, tau) == pytest.approx({d: n ** (1 / tau) / z for d, n in tokens.items()})
    t = S.Temperature(tokens, tau_start=4.0, tau_end=1.0, cooldown=0.25)
    assert t.tau_at(80, 100) == pytest.approx(4.0 + (1.0 - 4.0) * (0.80 - 0.75) / 0.25)


def test_every_schedule_answers_loss_weights_one_unless_it_upweights():
    base = S.Static({"web": 0.8, "math": 0.2})
    scheds = [base, S.Temperature({"web": 800, "math": 200}),
              S.EndUpsample(base, domains=["math"], factor=4.0, last_fraction=0.2),
              S.Phases([S.Phase(0.0, 0.5, base), S.Phase(0.5, 1.0, S.Static({"web": 0.1, "math": 0.9}))])]
    for sch in scheds:
        for step in (0, 60, 99):
            assert sch.loss_weights_at(step, 100) == {"web": 1.0, "math": 1.0}
    up = S.Upweight(target=S.Phases([S.Phase(0.0, 0.5, base), S.Phase(0.5, 1.0, S.Static({"web": 0.5, "math": 0.5}))]),
                    sampling=base)
    assert up.loss_weights_at(10, 100) == pytest.approx({"web": 1.0, "math": 1.0})
    assert up.loss_weights_at(60, 100) == pytest.approx({"web": 0.5 / 0.8, "math": 0.5 / 0.2})


def test_temperature_flattens_domains_not_their_rephrased_cells():
    # A domain's synthetic cell (mix's origin dimension) is part of its domain: temperature weighs the domains,
    # then each domain's weight is split over its cells as the mixture split it. Treating a 214-token synthetic
    # cell as a domain of its own gave it a share that repeats it 48 times in the quickstart.
    tokens = {"code": 100_000, "code:synthetic:hard": 214, "docs": 10_000}
    groups = {"code": "code", "code:synthetic:hard": "code", "docs": "docs"}
    within = {"code": 0.95, "code:synthetic:hard": 0.05, "docs": 1.0}
    t = S.Temperature(tokens, tau_start=3.0, tau_end=3.0, groups=groups, within=within)
    w = t.weights_at(0, 100)
    flat = S.temperature_weights({"code": 100_214, "docs": 10_000}, 3.0)
    assert math.isclose(w["code"] + w["code:synthetic:hard"], flat["code"])
    assert math.isclose(w["code:synthetic:hard"], flat["code"] * 0.05)
    assert math.isclose(w["docs"], flat["docs"])
    ungrouped = S.Temperature(tokens, tau_start=3.0, tau_end=3.0).weights_at(0, 100)
    assert ungrouped["code:synthetic:hard"] > 2 * w["code:synthetic:hard"]
