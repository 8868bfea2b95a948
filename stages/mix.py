"""mix: tokenize each domain into packed token shards and write RUN/mixture.json.

Spark workers tokenize their own partitions and each writes its own shard file per (split, domain), so no
document passes the driver; only per-file token counts come back. Weights: explicit, natural (by tokens),
temperature (p ∝ n^(1/τ)) or a RegMix proposal; a token budget; a per-domain epoch cap.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.rundir import write_json_atomic
from gristmill.pipeline.stage import FILE, FitStage, StageConfig, StageError, worker_cached
from gristmill.trainer_hooks.mixture import FORMAT, VERSION
from gristmill.trainer_hooks.schedules import (MixtureWarning, ScheduleError, normalize_weights,
                                               temperature_weights)

from .text_tokenizer import eos_id, load_tokenizer, train_tokenizer

REPEAT_WARN = 4.0  # "To Repeat or Not To Repeat" (2023): returns fall off quickly past ~4 epochs


class MixConfig(StageConfig):
    weights: Literal["natural", "temperature", "regmix"] | dict[str, float] = Field(
        "natural", description="explicit {domain: weight}, or natural | temperature | regmix")
    temperature: float = Field(2.0, gt=0, description="tau for weights: temperature")
    regmix_result: str | None = Field(None, description="regmix.json written by `gristmill regmix`", json_schema_extra=FILE)
    tokenizer: str | None = Field(None, description="tokenizer.json (or folder); empty: train BPE on the data", json_schema_extra=FILE)
    vocab_size: int = Field(8192, ge=256, le=1 << 20, description="for a tokenizer trained on the data")
    tokenizer_sample_docs: int = Field(20000, ge=1, description="documents streamed to train the tokenizer")
    budget_tokens: int | None = Field(None, ge=1, description="tokens one pass of the mixture covers; "
                                                                "default: all training tokens")
    max_epochs: float = Field(4.0, gt=0, description="cap on repetitions of any domain within the budget")
    heldout_fraction: float = Field(0.05, ge=0, lt=1, description="documents kept out for held-out loss")
    domain_column: str = "domain"


def _safe(name: str) -> str:
    """A folder name for a domain; a hash keeps "a/b" and "a_b" apart.

    >>> _safe("web"), _safe("a/b")
    ('web', 'a_b-3ec69c')
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return safe if safe == name and name not in (".", "..") else f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def _heldout(doc_id: str, fraction: float) -> bool:
    return int(hashlib.sha1(doc_id.encode()).hexdigest()[:8], 16) / 0x100000000 < fraction


def text_tokenizer(path: str):
    """A tokenizer for document text: a literal "<|endoftext|>" inside a document (real code contains it)
    is encoded as plain text, so only the separator this stage appends can end a document."""
    tok = load_tokenizer(path)
    tok.encode_special_tokens = True
    return tok


def _shard_writer(tok_path: str, dtype: str, out_dir: str, domain_col: str, fraction: float):
    """mapInArrow function: tokenize a partition and append to its own shard files."""
    def fn(batches):
        from pyspark import TaskContext
        tc = TaskContext.get()
        tag = f"{tc.partitionId():05d}-{tc.attemptNumber()}-{uuid.uuid4().hex[:6]}" if tc else uuid.uuid4().hex
        tok = worker_cached(("mix-tokenizer", tok_path), lambda: text_tokenizer(tok_path))
        eos = eos_id(tok)
        np_dtype = np.uint16 if dtype == "uint16" else np.uint32
        handles, counts = {}, {}
        try:
            for batch in batches:
                ids = batch.column("id").to_pylist()
                doms = batch.column(domain_col).to_pylist()
                texts = batch.column("text").to_pylist()
                for i, d in enumerate(doms):
                    if d is None:
                        raise StageError(f"mix: document id={ids[i]!r} has no {domain_col}; add a `domain` "
                                         f"stage before `mix`")
                encoded = tok.encode_batch([t or "" for t in texts])
                for doc_id, d, enc in zip(ids, doms, encoded):
                    split = "heldout" if _heldout(doc_id, fraction) else "train"
                    key = (split, d)
                    if key not in handles:
                        path = Path(out_dir) / split / _safe(d) / f"part-{tag}.bin"
                        path.parent.mkdir(parents=True, exist_ok=True)
                        handles[key] = open(path, "wb")
                        counts[key] = [str(path), 0, 0]
                    arr = np.asarray(enc.ids + [eos], dtype=np_dtype)
                    arr.tofile(handles[key])
                    counts[key][1] += len(arr)
                    counts[key][2] += 1
        finally:
            for h in handles.values():
                h.close()
        rows = [{"split": s, "domain": d, "file": c[0], "tokens": c[1], "docs": c[2]}
                for (s, d), c in counts.items()]
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=pa.schema([
                ("split", pa.string()), ("domain", pa.string()), ("file", pa.string()),
                ("tokens", pa.int64()), ("docs", pa.int64())]))
    return fn


# -- mixture maths (pure) ---------------------------------------------------------------------------
def choose_weights(tokens: dict[str, int], cfg: MixConfig) -> dict[str, float]:
    if isinstance(cfg.weights, dict):
        unknown = sorted(set(cfg.weights) - set(tokens))
        if unknown:
            raise StageError(f"mix.weights names domain(s) {unknown} that the data does not have; "
                             f"domains present: {sorted(tokens)}")
        missing = sorted(set(tokens) - set(cfg.weights))
        if missing:
            warnings.warn(f"mix.weights gives no weight to domain(s) {missing}; they are left out (weight 0)",
                          MixtureWarning, stacklevel=2)
        w = normalize_weights({d: float(cfg.weights.get(d, 0.0)) for d in tokens}, "mix.weights")
    elif cfg.weights == "natural":
        w = temperature_weights(tokens, 1.0)
    elif cfg.weights == "temperature":
        w = temperature_weights(tokens, cfg.temperature)
    else:
        w = regmix_weights(cfg.regmix_result, tokens)
    empty = [d for d, v in w.items() if v > 0 and tokens[d] <= 0]
    if empty:
        raise StageError(f"mix: domain(s) {empty} have weight but zero training tokens; give them weight 0 "
                         f"or lower heldout_fraction")
    return w


def regmix_weights(path: str | None, tokens: dict[str, int]) -> dict[str, float]:
    if not path:
        raise StageError("mix.weights: regmix needs `regmix_result` (the regmix.json `gristmill regmix` wrote)")
    p = Path(path)
    try:
        proposal = json.loads(p.read_text())["proposal"]
    except (OSError, ValueError, KeyError) as e:
        raise StageError(f"{p}: not a regmix result with a `proposal` ({e}); run `gristmill regmix` first") from None
    return normalize_weights({d: float(proposal.get(d, 0.0)) for d in tokens}, f"{p} proposal")


def cap_epochs(weights: dict[str, float], tokens: dict[str, int], budget: int,
               max_epochs: float) -> tuple[dict[str, float], dict[str, float]]:
    """Lower the weight of domains that would repeat more than max_epochs within `budget` and give the freed
    share to the others in proportion. Returns (weights, epochs).

    >>> w, e = cap_epochs({"a": 0.5, "b": 0.5}, {"a": 100, "b": 1000}, 1000, 2.0)
    >>> {k: round(v, 2) for k, v in w.items()}, {k: round(v, 2) for k, v in e.items()}
    ({'a': 0.2, 'b': 0.8}, {'a': 2.0, 'b': 0.8})
    """
    w = dict(weights)
    fixed: set[str] = set()
    while True:
        over = [d for d in w if d not in fixed and tokens[d] > 0 and w[d] * budget / tokens[d] > max_epochs + 1e-9]
        if not over:
            break
        for d in over:
            w[d] = max_epochs * tokens[d] / budget
            fixed.add(d)
        free = 1.0 - sum(w[d] for d in fixed)
        rest = {d: v for d, v in w.items() if d not in fixed and v > 0}
        if not rest:
            raise StageError(f"budget_tokens={budget:,} needs more than max_epochs={max_epochs} passes over "
                             f"every weighted domain; lower budget_tokens or raise max_epochs")
        s = sum(rest.values())
        for d, v in rest.items():
            w[d] = v / s * free
    epochs = {d: (w[d] * budget / tokens[d] if tokens[d] else 0.0) for d in w}
    return w, epochs
class Mix(FitStage):
    name = "mix"
    Config = MixConfig

    def required_columns(self):
        return ("id", "text", self.config.domain_column)

    def preflight(self):
        if self.config.tokenizer:
            load_tokenizer(self.config.tokenizer)
        if self.config.weights == "regmix" and not self.config.regmix_result:
            raise StageError("mix.weights: regmix needs `regmix_result`")

    def _tokenizer(self, df, work: Path) -> Path:
        if self.config.tokenizer:
            from .text_tokenizer import tokenizer_file
            return tokenizer_file(self.config.tokenizer).resolve()
        out = work / "tokenizer.json"
        # a bounded sample streams to the driver (BPE training is single-process); never the whole corpus
        sample = (r.text for r in df.select("text").limit(self.config.tokenizer_sample_docs).toLocalIterator())
        train_tokenizer(sample, self.config.vocab_size, out)
        return out

    def fit(self, df) -> None:
        ctx, cfg = self.ctx, self.config
        work = Path(ctx.work_dir)
        tok_path = self._tokenizer(df, work)
        tok = load_tokenizer(tok_path)
        vocab = tok.get_vocab_size()
        dtype = "uint16" if vocab <= 65535 else "uint32"
        shard_dir = work / "shards"
        schema = "split string, domain string, file string, tokens long, docs long"
        fn = _shard_writer(str(tok_path), dtype, str(shard_dir), cfg.domain_column, cfg.heldout_fraction)
        files = df.select("id", "text", cfg.domain_column).mapInArrow(fn, schema).collect()

        # shard paths as the run will see them once the work folder is renamed to the stage folder
        rel_stage = Path(ctx.stage_dir).resolve().relative_to(Path(ctx.run_dir).resolve())
        doms: dict[str, dict] = {}
        for r in sorted(files, key=lambda r: r.file):
            d = doms.setdefault(r.domain, {"files": [], "tokens": 0, "docs": 0, "heldout_files": [],
                                           "heldout_tokens": 0, "heldout_docs": 0})
            rel = str(rel_stage / Path(r.file).relative_to(work))
            pre = "" if r.split == "train" else "heldout_"
            d[pre + "files"].append(rel)
            d[pre + "tokens"] += r.tokens
            d[pre + "docs"] += r.docs
        if not doms:
            raise StageError("mix: the input has no documents; check the stages before `mix`")
        tokens = {d: v["tokens"] for d, v in doms.items()}
        try:
            weights = choose_weights(tokens, cfg)
        except ScheduleError as e:
            raise StageError(str(e)) from None
        budget = cfg.budget_tokens or sum(tokens.values())
        weights, epochs = cap_epochs(weights, tokens, budget, cfg.max_epochs)
        repeated = {d: round(e, 2) for d, e in epochs.items() if e > REPEAT_WARN}
        if repeated:
            warnings.warn(f"mix: domain(s) repeat more than {REPEAT_WARN:g} epochs within the budget: {repeated}; "
                          f"returns diminish past ~4 repetitions", MixtureWarning, stacklevel=2)
        tok_rel = str(rel_stage / "tokenizer.json") if not cfg.tokenizer else str(tok_path)
        for d in doms:
            doms[d].update(weight=weights[d], epochs=epochs[d])
        mixture = {"format": FORMAT, "version": VERSION, "dtype": dtype,
                   "tokenizer": {"path": tok_rel, "vocab_size": vocab, "eos_id": eos_id(tok)},
                   "budget_tokens": budget, "weights_method": cfg.weights if isinstance(cfg.weights, str)
                   else "explicit", "domains": dict(sorted(doms.items()))}
        write_json_atomic(Path(ctx.run_dir) / "mixture.json", mixture)
        self._stats = {"tokens": tokens, "weights": {d: round(w, 6) for d, w in weights.items()},
                       "epochs": {d: round(e, 4) for d, e in epochs.items()}, "budget_tokens": budget,
                       "repeated_past_4": repeated}

    def tag(self, df):
        return df  # mix tags nothing: every document that reaches it is in a shard

    def stats(self):
        return getattr(self, "_stats", {})
