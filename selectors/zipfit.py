"""ZIP-FIT (Obbad et al. 2024): rank documents by gzip normalized compression distance to a target set.

NCD(x, y) = (C(xy) - min(C(x), C(y))) / max(C(x), C(y)) with C the gzip-compressed length; a document's
alignment is 1 - its mean NCD to the target examples; the top-k by alignment are kept."""
from __future__ import annotations

import gzip

import numpy as np
from pydantic import Field

from .base import Selection, SelectorParams, TextSelector, check_target, resolve_budget, topk


def clen(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6, mtime=0))


def alignment(texts: list[str | None], target: list[str], max_chars: int = 2000) -> np.ndarray:
    """1 - mean NCD of each text to the target examples (texts cut to max_chars to bound the cost)."""
    tb = [(t or "")[:max_chars].encode("utf-8") for t in target]
    tc = [clen(t) for t in tb]
    out = np.empty(len(texts))
    for i, text in enumerate(texts):
        x = (text or "")[:max_chars].encode("utf-8")
        cx = clen(x)
        ncd = [(clen(x + t) - min(cx, ct)) / max(cx, ct, 1) for t, ct in zip(tb, tc)]
        out[i] = 1.0 - float(np.mean(ncd))
    return out


class ZipFitParams(SelectorParams):
    max_chars: int = Field(2000, ge=1, description="characters of each text compressed (bounds the cost)")
    max_target: int = Field(32, ge=1, description="target examples compared with (a fixed-seed sample)")


class ZipFit(TextSelector):
    name = "zipfit"
    needs_target = True
    Params = ZipFitParams

    def target_sample(self, target: list[str]) -> list[str]:
        """A fixed-seed sample keeps the cost at n x max_target compressions."""
        target = list(check_target(target))
        if len(target) <= self.max_target:
            return target
        rng = np.random.default_rng(self.seed)
        return [target[i] for i in sorted(rng.choice(len(target), self.max_target, replace=False))]

    def select(self, X, budget, target=None) -> Selection:
        sample = self.target_sample(target)
        b = resolve_budget(budget, len(X))
        return self.rank(alignment(X, sample, self.max_chars), b, len(sample))

    def rank(self, score: np.ndarray, b: int, target_size: int) -> Selection:
        picks = topk(score, b)
        diag = {"n": len(score), "budget": b, "target_size": target_size,
                "mean_alignment_selected": float(score[picks].mean()), "mean_alignment_all": float(score.mean())}
        return Selection(picks, score[picks], np.ones(b), diag)

    # -- as Spark jobs: alignments in the workers against the target sample, a distributed top-k ---------
    def payload(self, job) -> dict:
        return {"target": self.target_sample(job.target)}

    def score_texts(self, texts, payload) -> np.ndarray:
        return alignment(texts, payload["target"], self.max_chars)

    def pick(self, scores, b, payload) -> Selection:
        return self.rank(scores, b, len(payload["target"]))

    def rank_spark(self, scored, b, payload):
        from .spark_select import top_k
        return top_k(scored, b), {"budget": b, "target_size": len(payload["target"])}
