"""quality: heuristic rule sets (Gopher, C4, FineWeb) and an optional fastText quality classifier.

Every signal of every enabled rule set becomes a float column; `drop_reason` names the first failing
rule (`gopher:mean_word_length`) in the order of `rules`.

C4 removes lines (as published, `c4.remove_lines`, on by default): this stage then REWRITES `text` of the
documents it keeps to the lines C4 keeps (as written by default, TFDS's joined stripped lines with
`c4.output: tfds`), declares `text` among its output columns, and records every change with its reason in
`c4_removed_lines` (JSON, null only when the text is unchanged) so `gristmill inspect show` displays what
went. Rule sets after `c4` in `rules` see the cleaned text, as in a pipeline of filters; rejected documents
keep their original text.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from gristmill.pipeline.stage import DROP_REASON, BatchStage, StageConfig

from ..fasttext_model import load_fasttext
from .c4 import C4_SIGNALS, C4Config, c4_signals, clean
from .classifier import ClassifierConfig, scores
from .rules import RULE_SETS, Batch, Doc, FineWebConfig, GopherQualityConfig, GopherRepetitionConfig

RuleName = Literal["gopher", "gopher_repetition", "gopher_quality", "c4", "fineweb"]
EMPTY = "quality:empty"
LOW_SCORE = "quality:classifier"
CHUNK_CHARS = 8_000_000  # characters scored together (numpy arrays over their tokens)


class QualityConfig(StageConfig):
    rules: list[RuleName] = Field(default_factory=lambda: ["gopher", "c4", "fineweb"], validate_default=True,
                                  description="rule sets in the order their reasons take precedence; "
                                              "`gopher` is gopher_repetition then gopher_quality")
    gopher_quality: GopherQualityConfig = Field(default_factory=GopherQualityConfig)
    gopher_repetition: GopherRepetitionConfig = Field(default_factory=GopherRepetitionConfig)
    c4: C4Config = Field(default_factory=C4Config)
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig)
    classifier: ClassifierConfig | None = None

    @field_validator("rules")
    @classmethod
    def _expand(cls, v):
        out = []
        for name in v:
            for r in (["gopher_repetition", "gopher_quality"] if name == "gopher" else [name]):
                if r not in out:
                    out.append(r)
        return out


class QualityScorer:
    """Signals and reasons for a list of texts, without Spark (benchmarks and tests call it directly)."""

    def __init__(self, config: QualityConfig):
        self.config = config
        self.sets = [(r, getattr(config, r)) for r in config.rules]
        self.rewrites = "c4" in config.rules and config.c4.remove_lines

    def _run(self, name: str, batch: Batch, cfg):
        """(signals, reasons, C4 results or None) of one rule set over a batch."""
        if name == "c4":
            results = [clean(Doc(t), cfg) for t in batch.texts]
            signals = [c4_signals(r) for r in results]
            columns = {k: np.array([s[k] for s in signals], dtype=np.float64) for k in C4_SIGNALS}
            return columns, [r.reason for r in results], results
        signals, reasons = RULE_SETS[name][0](batch, cfg)
        return signals, reasons, None

    def signal_names(self) -> list[str]:
        # Running each rule on an empty document lists its signals exactly as it will emit them.
        return [k for name, cfg in self.sets for k in self._run(name, Batch([""]), cfg)[0]]

    def score(self, texts: list[str | None]) -> tuple[dict[str, np.ndarray], list[str | None]]:
        columns, reasons, _ = self.score_and_clean(texts)
        return columns, reasons

    def score_and_clean(self, texts: list[str | None]):
        """(signals, reasons, C4 edits): edits are None unless C4 removes lines, else per document
        (new text or None when unchanged, removed lines as JSON or None). The words of the batch are split once
        and shared by every rule set (again only for texts C4 changed, when a rule set follows it); a batch of
        long texts is scored in parts of about CHUNK_CHARS, so its token arrays stay small."""
        parts, size, start = [], 0, 0
        for i, t in enumerate(texts):
            size += len(t or "")
            if size >= CHUNK_CHARS or i == len(texts) - 1:
                parts.append(self._score_part(texts[start:i + 1]))
                size, start = 0, i + 1
        if len(parts) <= 1:
            return parts[0] if parts else self._score_part([])
        columns = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
        edits = None if not self.rewrites else [e for p in parts for e in p[2]]
        return columns, [r for p in parts for r in p[1]], edits

    def _score_part(self, texts: list[str | None]):
        batch = Batch(texts)
        columns: dict[str, np.ndarray] = {}
        reasons: list[str | None] = [None if t.strip() else EMPTY for t in batch.texts]
        cleaned = None
        for name, cfg in self.sets:
            signals, failed, results = self._run(name, batch, cfg)
            columns.update(signals)
            reasons = [r or f for r, f in zip(reasons, failed)]
            if results is not None and self.rewrites:
                cleaned = results
                # later rule sets judge the text C4 keeps
                batch = batch.with_texts([t if r.reason else r.text for t, r in zip(batch.texts, results)])
        edits = None
        if self.rewrites:
            edits = []
            for text, reason, result in zip(texts, reasons, cleaned or [None] * len(texts)):
                new_text = result.text if result is not None and reason is None else None
                edits.append((None if new_text == text else new_text,
                              result.removed_json() if result is not None else None))
        return columns, reasons, edits


class Quality(BatchStage):
    name = "quality"
    Config = QualityConfig
    rewrites_text = True  # with C4 line removal (the default)
    text_records = ("c4_removed_lines",)

    def produced_columns(self):
        scorer = QualityScorer(self.config)
        cols = {name: "double" for name in scorer.signal_names()}
        if scorer.rewrites:
            cols["text"] = "string"  # C4 line removal rewrites the kept documents' text
            cols["c4_removed_lines"] = "string"
        if self.config.classifier is not None:
            cols["quality_score"] = "float"
        return cols

    def preflight(self) -> None:
        if self.config.classifier is not None:
            load_fasttext(self.config.classifier.model_path, "quality.classifier.model_path")

    def setup(self) -> None:
        self.scorer = QualityScorer(self.config)
        clf = self.config.classifier
        # runs once per worker inside worker_cached (BatchStage), so the model is not reloaded per task
        self.model = None if clf is None else load_fasttext(clf.model_path, "quality classifier")

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        columns, reasons, edits = self.scorer.score_and_clean(texts)
        new = {k: pa.array(v, pa.float64()) for k, v in columns.items()}
        if edits is not None:
            texts = [t if e[0] is None else e[0] for t, e in zip(texts, edits)]  # the classifier scores these
            new["text"] = pa.array(texts, pa.string())
            new["c4_removed_lines"] = pa.array([e[1] for e in edits], pa.string())
        clf = self.config.classifier
        if clf is not None:
            qs = scores(self.model, texts, clf.positive_label, clf.max_chars)
            new["quality_score"] = pa.array(qs, pa.float32())
            if clf.threshold is not None:
                reasons = [r or (LOW_SCORE if s < clf.threshold else None) for r, s in zip(reasons, qs)]
        new[DROP_REASON] = pa.array(reasons, pa.string())
        return self.emit(batch, new)

    def transform(self, df):
        out = super().transform(df)
        clf = self.config.classifier
        if clf is None or clf.top_fraction is None:
            return out
        # top_fraction needs the score distribution of the rows the rules kept: one approximate
        # quantile pass inside Spark (the Arrow stage runs twice; no document reaches the driver).
        from pyspark.sql import functions as F
        passed = out.filter(F.col(DROP_REASON).isNull())
        cut = passed.approxQuantile("quality_score", [1.0 - clf.top_fraction], 0.001)
        self._cutoff = cut[0] if cut else None
        if self._cutoff is None:
            return out
        low = F.col(DROP_REASON).isNull() & (F.col("quality_score") < F.lit(self._cutoff))
        return out.withColumn(DROP_REASON, F.when(low, F.lit(LOW_SCORE)).otherwise(F.col(DROP_REASON)))

    def stats(self) -> dict:
        out = {"rules": self.config.rules}
        if getattr(self, "_cutoff", None) is not None:
            out["quality_score_cutoff"] = self._cutoff
        return out
