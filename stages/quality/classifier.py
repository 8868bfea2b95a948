"""Model-based quality: a fastText classifier with labels `__label__hq` / `__label__lq`.

Training (`gristmill train-quality`) and scoring (the `quality` stage) share `prepare`, so both see the
same text.
"""
from __future__ import annotations

from pydantic import Field, model_validator

from gristmill.pipeline.stage import FILE, StageConfig

from ..fasttext_model import one_line, predict

POSITIVE, NEGATIVE = "hq", "lq"


class ClassifierConfig(StageConfig):
    model_path: str = Field(..., description="fastText model from `gristmill train-quality`", json_schema_extra=FILE)
    positive_label: str = Field(POSITIVE, description="label whose probability becomes quality_score")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="drop when quality_score is below")
    top_fraction: float | None = Field(None, gt=0.0, le=1.0,
                                       description="keep this fraction of rows with the highest scores")
    max_chars: int = Field(20_000, ge=100, description="characters of each document the model reads")

    @model_validator(mode="after")
    def _one_rule(self):
        if (self.threshold is None) == (self.top_fraction is None):
            raise ValueError("set exactly one of threshold or top_fraction")
        return self


def prepare(text: str | None, max_chars: int = 20_000) -> str:
    """One line, single spaces, bounded length.

    >>> prepare("Hello\\n\\n  world ", 100)
    'Hello world'
    """
    return " ".join(one_line((text or "")[: max_chars * 2]).split())[:max_chars]


def scores(model, texts: list[str | None], positive: str = POSITIVE, max_chars: int = 20_000) -> list[float]:
    """Probability of the positive label for each text (all labels asked for, so none is cut off)."""
    labels, probs = predict(model, [prepare(t, max_chars) for t in texts], k=-1)
    return [dict(zip(lab, pr)).get(positive, 0.0) for lab, pr in zip(labels, probs)]
