"""Uniform random subset: the baseline every selection paper compares with."""
from __future__ import annotations

import numpy as np

from .base import Selection, Selector, resolve_budget


class RandomSelector(Selector):
    name = "random"
    input = "any"  # needs only the row count

    def spark_ready(self) -> bool:
        return True

    def select_spark(self, job):
        """Uniform keys from a hash of (seed, id), so the draw does not depend on partitioning (it differs
        from the one-process generator's draw, but is the same kind of draw); a distributed top-k."""
        from .spark_select import random_keys, top_k
        b = resolve_budget(job.budget, job.n)
        ranked = top_k(job.df.select("id").mapInArrow(random_keys(self.seed), "id string, score double"), b)
        return ranked, {"n": job.n, "budget": b, "seed": self.seed, "distributed": True}, None

    def select(self, X, budget, target=None) -> Selection:
        n = len(X)
        b = resolve_budget(budget, n)
        picks = np.random.default_rng(self.seed).permutation(n)[:b]
        return Selection(picks, np.zeros(b), np.full(b, n / b), {"n": n, "budget": b, "seed": self.seed})
