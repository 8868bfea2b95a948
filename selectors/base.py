"""The Selector interface, shared input checks, and the registry of selectors by name (filled by definition).

Selectors look like sklearn/apricot: parameters go to the constructor, data to `select(X, budget)`,
and the answer is a Selection in rank order (best first)."""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from gristmill.pipeline.registry import Registry
from gristmill.pipeline.stage import StageError


class SelectorError(StageError):
    """Bad selector input: the message says which row, id or parameter, and what to do."""


@dataclass
class Selection:
    indices: np.ndarray  # row numbers into X, best first
    scores: np.ndarray  # per pick: marginal gain (facility location) or the selector's score
    weights: np.ndarray  # per pick: how much of the corpus it stands for (1.0 when the selector has no notion)
    diagnostics: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices)


SELECTORS: Registry["Selector"] = Registry("selector", "gristmill.selector_packages")


class SelectorParams(BaseModel):
    """A selector's parameters, typed and checked as stages' configs are: a subclass per selector lists its
    own fields (with a description each); an unknown key is an error."""
    model_config = ConfigDict(extra="forbid")
    seed: int = 0


def _explain(name: str, err: ValidationError) -> str:
    """One line naming each bad key: `select.params.<key>` in a config."""
    parts = []
    for e in err.errors():
        key = ".".join(str(x) for x in e["loc"]) or "params"
        if e["type"] == "extra_forbidden":
            parts.append(f"has no parameter '{key}'")
        else:
            parts.append(f"parameter '{key}': {e['msg']} (got {e.get('input')!r})")
    return f"selector '{name}' " + "; ".join(parts)


class Selector:
    """Parameters go to the constructor as keywords, validated by the class's `Params` model and set as
    attributes (`self.k`, `self.seed`, ...); `self.params` keeps the model."""
    name: ClassVar[str]
    # "embeddings": X is an (n, d) float matrix; "texts": X is a list of strings
    input: ClassVar[str] = "embeddings"
    needs_target: ClassVar[bool] = False
    uses_target_tasks: ClassVar[bool] = False  # select() takes target_tasks= (each target example's task)
    Params: ClassVar[type[SelectorParams]] = SelectorParams

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        SELECTORS.add(cls)

    def __init__(self, **params):
        try:
            self.params = self.Params(**params)
        except ValidationError as e:
            raise SelectorError(_explain(self.name, e) + f"; it takes {sorted(self.Params.model_fields)}") from None
        for key, value in self.params:
            setattr(self, key, value)

    # -- the distributed path; a plugin may bring its own ---------------------------------------------
    # what the selection's summary reports from the written picks: "count", "mean_score" or "objective"
    summary: ClassVar[str] = "count"

    def spark_ready(self) -> bool:
        """Whether `select_spark` runs these parameters as Spark jobs."""
        return False

    def select_spark(self, job):
        """Select over a spark_select.SparkJob as Spark jobs; returns (ranked DataFrame with SELECTION_SCHEMA,
        diagnostics, a persisted DataFrame to unpersist after writing, or None). By default the path registered
        for this class (or a base class) with `spark_path`; a selector may also override this method."""
        SELECTORS.scan()  # the modules that register paths are the package's own: loaded with the selectors
        for cls in type(self).__mro__:
            if cls in SPARK_PATHS:
                return SPARK_PATHS[cls](self, job)
        raise SelectorError(f"selector '{self.name}' has no distributed path; set `distributed: false`")


# The distributed paths, registered by the modules that hold them (spark_select.py, spark_semdedup.py, or a
# plugin's own module). Those modules import the selectors' maths, never the reverse: no import cycle.
SPARK_PATHS: dict[type, Callable] = {}


def spark_path(selector_cls: type) -> Callable:
    """Decorator: fn(selector, job) is the distributed path of `selector_cls` and its subclasses."""
    def register(fn: Callable) -> Callable:
        SPARK_PATHS[selector_cls] = fn
        return fn
    return register


class TextSelector(Selector):
    """A selector that scores each document's text on its own, given a small payload the driver computes
    (a vector of n-gram weights, a sample of target texts): the workers score, no text reaches the driver.
    Subclasses write payload(job), score_texts(texts, payload), pick(scores, b, payload) for one process and
    rank_spark(scored, b, payload) for the distributed top-k."""
    input = "texts"

    def payload(self, job) -> dict:
        raise NotImplementedError

    def score_texts(self, texts: list, payload: dict) -> np.ndarray:
        raise NotImplementedError

    def pick(self, scores: np.ndarray, b: int, payload: dict) -> Selection:
        raise NotImplementedError

    def rank_spark(self, scored, b: int, payload: dict):
        raise NotImplementedError

    def spark_ready(self) -> bool:
        return True

    def select(self, X, budget: int | float, target=None) -> Selection:
        raise NotImplementedError


def resolve_budget(budget, n: int) -> int:
    """An int is a count, a float in (0, 1] a fraction of n.

    >>> resolve_budget(0.3, 10), resolve_budget(4, 10)
    (3, 4)
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)):
        raise SelectorError(f"budget must be a count (int) or a fraction in (0, 1], got {budget!r}")
    if n == 0:
        raise SelectorError("nothing to select from: the corpus is empty")
    if isinstance(budget, (float, np.floating)):
        if not 0 < budget <= 1:
            raise SelectorError(f"a fractional budget must be in (0, 1], got {budget}; "
                                f"pass an integer for a count of documents")
        return max(1, int(round(float(budget) * n)))
    k = int(budget)
    if k <= 0:
        raise SelectorError(f"budget must be positive, got {budget}")
    if k > n:
        raise SelectorError(f"budget {k} is larger than the corpus ({n} documents); "
                            f"use a smaller count or a fraction such as 0.3")
    return k


def check_embeddings(X, what: str = "embeddings", ids: list | None = None) -> np.ndarray:
    """float32, 2-D, finite, rows L2-normalized (cosine = dot product)."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise SelectorError(f"{what} must be a 2-D matrix (documents x dimensions), got shape {X.shape}")
    # one pass: a NaN or inf anywhere in a row makes its squared norm non-finite (so does a huge finite
    # value overflowing float32, hence the float64 recheck of those rows only)
    sq = np.einsum("ij,ij->i", X, X)
    odd = np.flatnonzero(~np.isfinite(sq))
    if odd.size:
        wide = X[odd].astype(np.float64)
        bad = odd[~np.isfinite(wide).all(axis=1)]
        if bad.size:
            names = [ids[i] for i in bad[:5]] if ids is not None else bad[:5].tolist()
            raise SelectorError(f"{what} have NaN or infinite values in {bad.size} row(s), first: {names}; "
                                f"re-embed those documents (delete their shards and rerun `gristmill embed`)")
        sq = sq.astype(np.float64)
        sq[odd] = (wide * wide).sum(axis=1)
    return (X / np.maximum(np.sqrt(sq), 1e-12)[:, None]).astype(np.float32, copy=False)


def check_target(target, what: str = "target set"):
    if target is None or len(target) == 0:
        raise SelectorError(f"this selector needs a non-empty {what} (pass --target PATH or `target:` "
                            f"in the select config: a jsonl/parquet/txt file of example documents)")
    return target


def known_selectors() -> list[str]:
    return SELECTORS.names()


def get_selector(name: str, **params) -> Selector:
    cls = SELECTORS.get(name)
    if cls is None:
        raise SelectorError(f"unknown selector '{name}'; known: {', '.join(known_selectors())}{SELECTORS.problems()}")
    if cls.__init__ is not Selector.__init__:  # a plugin with its own constructor
        allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        unknown = sorted(set(params) - set(allowed))
        if unknown and not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
            raise SelectorError(f"selector '{name}' has no parameter(s) {unknown}; it takes {allowed}")
    return cls(**params)


def topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first; ties broken by lower index (deterministic)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:k]


def gumbel_topk(log_weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Sample k items without replacement with probability proportional to exp(log_weights)."""
    keys = log_weights + rng.gumbel(size=len(log_weights))
    return topk(keys, k)


def curve(values: np.ndarray, points: int = 100) -> list[list[float]]:
    """Subsample a per-pick curve to about `points` (pick number, value) pairs for diagnostics."""
    n = len(values)
    if n == 0:
        return []
    at = np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(int))
    return [[int(i + 1), float(values[i])] for i in at if math.isfinite(values[i])]
