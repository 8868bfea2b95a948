"""Uniform random subset: the baseline every selection paper compares with."""
from __future__ import annotations

import numpy as np

from .base import Selection, Selector, resolve_budget


class RandomSelector(Selector):
    name = "random"
    input = "any"  # needs only the row count

    def select(self, X, budget, target=None) -> Selection:
        n = len(X)
        b = resolve_budget(budget, n)
        picks = np.random.default_rng(self.seed).permutation(n)[:b]
        return Selection(picks, np.zeros(b), np.full(b, n / b), {"n": n, "budget": b, "seed": self.seed})
