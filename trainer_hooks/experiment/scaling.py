"""Scaling laws for data filtering with diminishing utility of repeated data: Goyal, Maini, Lipton, Raghunathan and
Kolter, "Scaling Laws for Data Filtering -- Data Curation cannot be Compute Agnostic", CVPR 2024 (arXiv 2404.07177),
section 3. The equations, as this module implements them (y: loss on the target, n: samples seen, here tokens):

- one pool seen once, a power law: y = a * n^b + d, b < 0 the pool's *utility* (more negative: more useful) and d
  the irreducible loss. Equivalently the instantaneous rule dy/dn = b * y / n (the paper's eqs. 1 and 2).
- repetition: the utility of a pool on its k-th pass decays with a half-life of tau passes,
  b_k = b * (1/2)^((k-1)/tau) (eq. 3), and each pass continues the curve from where the last one ended:
  y_k = y_(k-1) * (n_k / n_(k-1))^(b_k) for n_(k-1) = (k-1) * S < n_k <= k * S, S the pool size (eq. 4).
- mixing pools without training on the mixture (section 3.3): on the k-th pass over the union of pools, the
  effective utility is the mean of the pools' decayed utilities, b_eff,k = mean_i b_i * (1/2)^((k-1)/tau_i), with
  one `a` shared by all pools (the paper fits a common `a`).

Where we choose otherwise (docstrings say so): the decay and the products act on the reducible part y - d (the
authors' code multiplies d by the products too; with d = 0, the default here, the two agree); pools of unequal
size are mixed by their share of the union's tokens (the paper's pools are equal, where this is its plain mean);
the fit is least squares in log(y - d), exact for (log a, b) at fixed tau, with a grid over each tau (the authors
also grid-search, for stability).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TAUS = np.concatenate([np.geomspace(0.05, 200.0, 80), [math.inf]])  # the half-life grid, in passes


def decay(k: np.ndarray | float, tau: float) -> np.ndarray | float:
    """(1/2)^((k-1)/tau), eq. 3's factor on the k-th pass; tau = inf: no decay.

    >>> float(decay(3, 2.0)), float(decay(5, math.inf))
    (0.5, 1.0)
    """
    return 0.5 ** ((np.asarray(k, dtype=float) - 1.0) / tau)


def passes(n: float, pool: float) -> list[tuple[int, float, float]]:
    """The passes over a pool of `pool` tokens that n tokens make: [(k, start, end)], end - start tokens in pass k.

    >>> passes(250, 100)
    [(1, 0.0, 100.0), (2, 100.0, 200.0), (3, 200.0, 250.0)]
    """
    out, k = [], 1
    while (k - 1) * pool < n:
        out.append((k, float((k - 1) * pool), float(min(k * pool, n))))
        k += 1
    return out


def log_excess(n: float, pool: float, log_a: float, utilities: list[tuple[float, float, float]]) -> float:
    """log(y - d) after n tokens over a union of pools: eqs. 1, 3, 4 with section 3.3's mean utility.
    `utilities`: one (b_i, tau_i, share_i) per pool, the shares summing to 1.

    >>> round(log_excess(100.0, 1000.0, 1.0, [(-0.5, 1.0, 1.0)]), 6) == round(1.0 - 0.5 * math.log(100.0), 6)
    True
    """
    total = log_a
    for k, start, end in passes(n, pool):
        b_k = sum(s * b * float(decay(k, tau)) for b, tau, s in utilities)
        total += b_k * (math.log(end) if k == 1 else math.log(end / start))
    return total


def feature(n: float, pool: float, tau: float) -> float:
    """d log(y - d) / d b for one pool: log n on the first pass, then each pass's log-ratio weighted by its
    decay (eq. 4 is linear in b at fixed tau, so the fit solves (log a, b) exactly)."""
    return log_excess(n, pool, 0.0, [(1.0, tau, 1.0)])


@dataclass
class Point:
    """One evaluation of one proxy run: bucket, its pool's tokens, tokens seen, measured loss."""
    bucket: int
    pool: float
    tokens: float
    loss: float


@dataclass
class Fit:
    log_a: float
    b: list[float]
    tau: list[float]
    d: float
    rmse_log: float  # on the points it was fitted on, in log(y - d)

    def predict(self, bucket: int, pool: float, tokens: float) -> float:
        return self.d + math.exp(log_excess(tokens, pool, self.log_a, [(self.b[bucket], self.tau[bucket], 1.0)]))

    def predict_mix(self, buckets: list[int], sizes: list[float], tokens: float) -> float:
        """Loss after `tokens` over the union of `buckets` (their token counts `sizes`), repeated as needed."""
        pool = float(sum(sizes))
        utils = [(self.b[i], self.tau[i], s / pool) for i, s in zip(buckets, sizes)]
        return self.d + math.exp(log_excess(tokens, pool, self.log_a, utils))


def _solve(points: list[Point], taus: list[float], d: float, nb: int) -> tuple[np.ndarray, float]:
    """Least squares of log(y - d) on [1, feature one-hot by bucket]: (coefficients, sum of squares)."""
    x = np.zeros((len(points), 1 + nb))
    y = np.empty(len(points))
    for r, p in enumerate(points):
        x[r, 0] = 1.0
        x[r, 1 + p.bucket] = feature(p.tokens, p.pool, taus[p.bucket])
        y[r] = math.log(p.loss - d)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return coef, float(((x @ coef - y) ** 2).sum())


def fit(points: list[Point], buckets: int, d: float = 0.0, sweeps: int = 3) -> Fit:
    """Shared log a, per-bucket b and tau (section 3): coordinate descent over each bucket's tau on TAUS, each step
    an exact linear least-squares fit of (log a, b_1..b_B).

    Recovers known parameters from curves made by the equations:

    >>> truth = Fit(log_a=2.0, b=[-0.12, -0.08], tau=[2.0, 8.0], d=1.0, rmse_log=0.0)
    >>> pts = [Point(i, pool, n, truth.predict(i, pool, n)) for i in (0, 1) for pool in (1e4, 4e4)
    ...        for n in np.geomspace(1e3, 2e5, 25)]
    >>> f = fit(pts, 2, d=1.0)
    >>> [round(v, 3) for v in f.b], round(f.log_a, 2)
    ([-0.12, -0.08], 2.0)
    """
    if not points:
        raise ValueError("no proxy evaluations to fit")
    low = min(p.loss for p in points)
    if low <= d:
        raise ValueError(f"a measured loss ({low:.4f}) is at or below the irreducible loss d={d}; lower d")
    taus = [math.inf] * buckets
    coef, sse = _solve(points, taus, d, buckets)
    for _ in range(sweeps):
        for i in range(buckets):
            if not any(p.bucket == i and p.tokens > p.pool for p in points):
                continue  # a bucket never repeated says nothing about its half-life
            best = (sse, taus[i], coef)
            for t in TAUS:
                trial = taus[:i] + [float(t)] + taus[i + 1:]
                c, s = _solve(points, trial, d, buckets)
                if s < best[0] - 1e-15:
                    best = (s, float(t), c)
            sse, taus[i], coef = best
    return Fit(log_a=float(coef[0]), b=[float(v) for v in coef[1:]], tau=taus, d=d,
               rmse_log=math.sqrt(sse / len(points)))


def plan(f: Fit, sizes: list[float], budget: float) -> list[dict]:
    """Predicted loss of training `budget` tokens on the top-k buckets, for every k (buckets in best-first order,
    `sizes` their tokens in the full pool): the compute-aware choice of section 4 (FADU)."""
    rows = []
    for k in range(1, len(sizes) + 1):
        pool = float(sum(sizes[:k]))
        rows.append({"top_buckets": k, "pool_tokens": pool, "epochs": budget / pool,
                     "predicted_loss": f.predict_mix(list(range(k)), sizes[:k], budget)})
    return rows
