"""plan-filter's scaling law against a reference written from the paper (Goyal et al. 2024, section 3), not from
trainer_hooks/experiment/scaling.py: the reference integrates the instantaneous rule dy/dn = b_k * (y - d) / n
(eq. 2) step by step, with b_k = b * (1/2)^((k-1)/tau) on the k-th pass (eq. 3) and, for a union of pools, b_k the
mean of the pools' decayed utilities weighted by their share (section 3.3). Curves made by it with known parameters
must be recovered by the fit, and its predictions of mixtures must match the module's."""
from __future__ import annotations

import math

import numpy as np
import pytest

from gristmill.trainer_hooks.experiment.scaling import TAUS, Fit, Point, fit, plan


def reference_loss(n: float, pool: float, a: float, d: float, pools: list[tuple[float, float, float]],
                   steps_per_pass: int = 4000) -> float:
    """Euler-integrate eq. 2 in log n from n0 (where y - d = a n0^b_1 exactly, first pass) to n.
    pools: (b_i, tau_i, share_i)."""
    def b_at(k: int) -> float:
        return sum(s * b * 0.5 ** ((k - 1) / tau) for b, tau, s in pools)
    n0 = min(n, pool) * 1e-3
    log_excess = math.log(a) + b_at(1) * math.log(n0)
    grid = np.geomspace(n0, n, steps_per_pass * (1 + int(n // pool)))
    for lo, hi in zip(grid[:-1], grid[1:]):
        k = int(math.floor(((lo + hi) / 2) / pool)) + 1  # the pass this step is in
        log_excess += b_at(k) * math.log(hi / lo)  # d log(y - d) = b_k d log n
    return d + math.exp(log_excess)


A, D = math.exp(1.5), 0.8
TRUE = [(-0.15, 1.5), (-0.10, 6.0), (-0.06, math.inf)]  # (b, tau): a useful bucket that wears out fast, ...


def _points(pools=(2e4, 1e4, 5e3), tokens=np.geomspace(2e3, 8e4, 12)) -> list[Point]:
    return [Point(i, pool, float(n), reference_loss(n, pool, A, D, [(b, tau, 1.0)]))
            for i, (b, tau) in enumerate(TRUE) for pool in pools for n in tokens]


def _close_tau(got: float, want: float) -> bool:
    if math.isinf(want):
        return math.isinf(got) or got > 50
    grid = TAUS[np.isfinite(TAUS)]
    step = grid[1] / grid[0]  # the grid's ratio between neighbours
    return want / step ** 1.5 <= got <= want * step ** 1.5


def test_fit_recovers_the_known_utility_and_half_life_of_every_bucket():
    f = fit(_points(), 3, d=D)
    assert f.log_a == pytest.approx(math.log(A), abs=0.02)
    for (b, tau), got_b, got_tau in zip(TRUE, f.b, f.tau):
        assert got_b == pytest.approx(b, abs=0.003)
        assert _close_tau(got_tau, tau), (tau, got_tau)


def test_prediction_of_a_mixture_never_trained_on_matches_the_reference():
    f = Fit(log_a=math.log(A), b=[b for b, _ in TRUE], tau=[t for _, t in TRUE], d=D, rmse_log=0.0)
    sizes = [3e4, 1e4, 6e4]
    for budget in (1e4, 5e4, 4e5):
        want = reference_loss(budget, sum(sizes), A, D, [(b, t, s / sum(sizes)) for (b, t), s in zip(TRUE, sizes)])
        assert f.predict_mix([0, 1, 2], sizes, budget) == pytest.approx(want, rel=1e-3)


def test_a_small_budget_keeps_the_best_bucket_and_a_large_one_takes_more():
    """The paper's quality-quantity trade-off: repeating the best bucket wins at low compute, loses at high."""
    f = Fit(log_a=math.log(A), b=[-0.11, -0.10, -0.09], tau=[1.0, 20.0, 20.0], d=D, rmse_log=0.0)
    sizes = [1e4, 1e4, 1e4]
    small = min(plan(f, sizes, 5e3), key=lambda r: r["predicted_loss"])
    large = min(plan(f, sizes, 1e6), key=lambda r: r["predicted_loss"])
    assert small["top_buckets"] == 1 and large["top_buckets"] > 1
    assert large["epochs"] == pytest.approx(1e6 / (large["top_buckets"] * 1e4))


def test_noisy_curves_still_recover_the_utility_order():
    rng = np.random.default_rng(0)
    pts = [Point(p.bucket, p.pool, p.tokens, D + (p.loss - D) * math.exp(rng.normal(0, 0.01))) for p in _points()]
    f = fit(pts, 3, d=D)
    assert f.b[0] < f.b[1] < f.b[2] < 0


def test_a_loss_at_or_below_the_irreducible_is_refused():
    with pytest.raises(ValueError, match="irreducible"):
        fit([Point(0, 10.0, 5.0, 0.5)], 1, d=0.8)
