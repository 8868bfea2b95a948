"""mix: tokenize each domain into packed token shards and write mixture.json (published as RUN/mixture.json).

The stage writes mixture.json beside its shards, inside its own folder, so it commits with them; the runner
publishes RUN/mixture.json from it only after the stage committed and removes the old one before mix reruns
(Stage.publish/unpublish, RunDir.publish_mixture): a killed mix never leaves a mixture naming uncommitted shards.

Spark workers tokenize their own partitions and each writes its own shard file per (split, mixture domain), so
no document passes the driver; only per-file token counts come back. Weights: explicit, natural (by tokens),
temperature (p ∝ n^(1/τ)) or a RegMix proposal; a token budget; a per-domain epoch cap that the trainer enforces.

Rephrased data (WRAP, Maini et al. 2024, "Rephrasing the Web"): when the input has an `origin` column, origin
and style are mixing dimensions. Each domain's share is split real:synthetic by `origin_ratio` (WRAP's 1:1 by
default) and the synthetic part across styles by `style_weights` (equal by default); each (domain, origin,
style) cell is its own mixture domain (`web`, `web:synthetic:qa`; see trainer_hooks/mixture.py). Without an
`origin` column mix behaves as before: one mixture domain per domain.
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

from gristmill.pipeline.stage import FILE, FitStage, StageConfig, StageError, worker_cached
from gristmill.trainer_hooks.mixture import DomainEntry, MixtureSpec, cell_name, save_mixture
from gristmill.trainer_hooks.schedules import MixtureWarning, ScheduleError, normalize_weights, temperature_weights

from .text_tokenizer import eos_id, load_tokenizer, train_tokenizer

REPEAT_WARN = 4.0  # "To Repeat or Not To Repeat" (2023): returns fall off quickly past ~4 epochs
ORIGINS = ("real", "synthetic")


class MixConfig(StageConfig):
    weights: Literal["natural", "temperature", "regmix"] | dict[str, float] = Field(
        "natural", description="explicit {domain: weight}, or natural | temperature | regmix")
    temperature: float = Field(2.0, gt=0, description="tau for weights: temperature")
    regmix_result: str | None = Field(None, description="regmix.json written by `gristmill regmix`",
                                      json_schema_extra=FILE)
    tokenizer: str | None = Field(None, description="tokenizer.json (or folder); empty: train BPE on the data",
                                  json_schema_extra=FILE)
    vocab_size: int = Field(8192, ge=256, le=1 << 20, description="for a tokenizer trained on the data")
    tokenizer_sample_docs: int = Field(20000, ge=1, description="about this many documents, sampled across the "
                                       "whole corpus (seeded), train the tokenizer")
    seed: int = Field(0, description="seed of the tokenizer's document sample")
    budget_tokens: int | None = Field(None, ge=1, description="tokens one pass of the mixture covers; "
                                                                "default: all training tokens")
    max_epochs: float = Field(4.0, gt=0, description="cap on repetitions of any domain within the budget")
    heldout_fraction: float = Field(0.05, ge=0, lt=1, description="documents kept out for held-out loss")
    domain_column: str = "domain"
    origin_column: str = Field("origin", description="real | synthetic (rephrase writes it); absent: all real")
    style_column: str = "style"
    origin_ratio: dict[str, float] | None = Field(
        None, description="real:synthetic share inside each domain, e.g. {real: 1, synthetic: 1} (WRAP's 1:1, "
                          "the default when synthetic rows exist)")
    style_weights: dict[str, float] | None = Field(
        None, description="share of each rephrase style inside the synthetic part (default: equal)")


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


def _shard_writer(tok_path: str, dtype: str, out_dir: str, cols: dict, fraction: float):
    """mapInArrow function: tokenize a partition and append to its own shard files, one per (split, cell).

    `cols` names the domain column and, when the data has them, the origin and style columns."""
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
                doms = batch.column(cols["domain"]).to_pylist()
                origins = batch.column(cols["origin"]).to_pylist() if cols.get("origin") else [None] * len(ids)
                styles = batch.column(cols["style"]).to_pylist() if cols.get("style") else [None] * len(ids)
                texts = batch.column("text").to_pylist()
                cells = [_cell_of(i, d, o, s, cols) for i, d, o, s in zip(ids, doms, origins, styles)]
                encoded = tok.encode_batch([t or "" for t in texts])
                for doc_id, cell, enc in zip(ids, cells, encoded):
                    split = "heldout" if _heldout(doc_id, fraction) else "train"
                    key = (split, cell)
                    if key not in handles:
                        path = Path(out_dir) / split / _safe(cell[0]) / f"part-{tag}.bin"
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
        rows = [{"split": s, "cell": c[0], "domain": c[1], "origin": c[2], "style": c[3], "file": n[0],
                 "tokens": n[1], "docs": n[2]} for (s, c), n in counts.items()]
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=pa.schema(
                [(k, pa.string()) for k in ("split", "cell", "domain", "origin", "style", "file")]
                + [("tokens", pa.int64()), ("docs", pa.int64())]))
    return fn


def _cell_of(doc_id, domain, origin, style, cols) -> tuple:
    if domain is None:
        raise StageError(f"mix: document id={doc_id!r} has no {cols['domain']}; add a `domain` stage before `mix`")
    origin = origin or "real"
    if origin not in ORIGINS:
        raise StageError(f"mix: document id={doc_id!r} has {cols['origin']}={origin!r}; it must be one of "
                         f"{list(ORIGINS)} (the rephrase stage writes it)")
    style = style if origin == "synthetic" else None
    return cell_name(domain, origin, style), domain, origin, style


SCHEMA = ("split string, cell string, domain string, origin string, style string, file string, tokens long, "
          "docs long")


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
def split_cells(domain_weights: dict[str, float], cells: dict[str, dict], origin_ratio: dict[str, float] | None,
                style_weights: dict[str, float] | None) -> tuple[dict[str, float], dict | None, dict | None]:
    """Split each domain's weight over its (origin, style) cells. `cells`: {cell: {domain, origin, style}}.
    Returns (cell weights, the origin ratio used, the style weights used); the last two are None when no cell
    is synthetic. A domain with only real (or only synthetic) cells gives that part its whole weight.

    >>> cells = {"web": {"domain": "web", "origin": "real", "style": None},
    ...          "web:synthetic:qa": {"domain": "web", "origin": "synthetic", "style": "qa"},
    ...          "web:synthetic:easy": {"domain": "web", "origin": "synthetic", "style": "easy"},
    ...          "code": {"domain": "code", "origin": "real", "style": None}}
    >>> w, r, s = split_cells({"web": 0.8, "code": 0.2}, cells, None, None)
    >>> {k: round(v, 3) for k, v in sorted(w.items())}
    {'code': 0.2, 'web': 0.4, 'web:synthetic:easy': 0.2, 'web:synthetic:qa': 0.2}
    >>> r, s
    ({'real': 0.5, 'synthetic': 0.5}, {'easy': 0.5, 'qa': 0.5})
    """
    styles = sorted({c["style"] for c in cells.values() if c["origin"] == "synthetic"})
    if not styles:
        if origin_ratio or style_weights:
            warnings.warn("mix: origin_ratio/style_weights are set but the data has no synthetic rows; "
                          "they are ignored", MixtureWarning, stacklevel=2)
        return {c: domain_weights[v["domain"]] for c, v in cells.items()}, None, None
    ratio = normalize_weights(origin_ratio or {"real": 1.0, "synthetic": 1.0}, "mix.origin_ratio", warn=False)
    unknown = sorted(set(ratio) - set(ORIGINS))
    if unknown:
        raise StageError(f"mix.origin_ratio: unknown origin(s) {unknown}; use {list(ORIGINS)}")
    if style_weights:
        missing = sorted(set(styles) - set(style_weights))
        extra = sorted(set(style_weights) - set(styles))
        if extra:
            raise StageError(f"mix.style_weights names style(s) {extra} the data does not have; styles: {styles}")
        if missing:
            warnings.warn(f"mix.style_weights gives no weight to style(s) {missing}; they are left out",
                          MixtureWarning, stacklevel=2)
        sw = normalize_weights({s: float(style_weights.get(s, 0.0)) for s in styles}, "mix.style_weights")
    else:
        sw = {s: 1.0 / len(styles) for s in styles}
    out = {}
    for dom, w in domain_weights.items():
        mine = {c: v for c, v in cells.items() if v["domain"] == dom}
        real = [c for c, v in mine.items() if v["origin"] == "real"]
        synth = {c: v["style"] for c, v in mine.items() if v["origin"] == "synthetic"}
        s_share = sum(sw[s] for s in synth.values())
        r = ratio.get("real", 0.0) if synth and s_share > 0 else 1.0
        if not real:
            r = 0.0
        for c in real:
            out[c] = w * r
        for c, s in synth.items():
            out[c] = w * (1.0 - r) * sw[s] / s_share if s_share > 0 else 0.0
    return out, ratio, sw


def repeated_past(epochs: dict[str, float], limit: float) -> dict[str, float]:
    """Domains repeated more than `limit` epochs; a domain capped at exactly the limit is not (float noise).

    >>> repeated_past({"a": 4.000000000001, "b": 4.5, "c": 1.0}, 4.0)
    {'b': 4.5}
    """
    return {d: round(e, 2) for d, e in epochs.items() if e > limit + 1e-9}


class Mix(FitStage):
    name = "mix"
    Config = MixConfig
    passes_through = True  # its product is the shards and mixture.json; the documents go on unchanged

    @classmethod
    def publish(cls, run, stage_dir) -> None:
        run.publish_mixture(stage_dir)

    @classmethod
    def unpublish(cls, run) -> None:
        run.mixture.unlink(missing_ok=True)

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
        # BPE training is single-process, so a bounded sample streams to the driver, never the corpus. It is a
        # seeded Bernoulli sample over every partition: `limit(N)` would take the head, which in sorted inputs
        # is the first domains only.
        n = self.config.tokenizer_sample_docs
        total = df.count()
        texts = df.select("text")
        if total > n:
            texts = texts.sample(withReplacement=False, fraction=n / total, seed=self.config.seed)
        train_tokenizer((r.text for r in texts.toLocalIterator()), self.config.vocab_size, out)
        return out

    def fit(self, df) -> None:
        ctx, cfg = self.ctx, self.config
        work = Path(ctx.work_dir)
        tok_path = self._tokenizer(df, work)
        tok = load_tokenizer(tok_path)
        vocab = tok.get_vocab_size()
        dtype = "uint16" if vocab <= 65535 else "uint32"
        cols = {"domain": cfg.domain_column}
        if cfg.origin_column in df.columns:
            cols["origin"] = cfg.origin_column
            if cfg.style_column in df.columns:
                cols["style"] = cfg.style_column
        fn = _shard_writer(str(tok_path), dtype, str(work / "shards"), cols, cfg.heldout_fraction)
        files = df.select("id", "text", *cols.values()).mapInArrow(fn, SCHEMA).collect()

        # shard paths relative to this stage's folder, where mixture.json is written (RunDir rebases the copy)
        entries: dict[str, DomainEntry] = {}
        cells: dict[str, dict] = {}
        for r in sorted(files, key=lambda r: r.file):
            e = entries.setdefault(r.cell, DomainEntry(files=[], tokens=0, weight=0.0, group=r.domain,
                                                       origin=r.origin, style=r.style))
            cells[r.cell] = {"domain": r.domain, "origin": r.origin, "style": r.style}
            rel = str(Path(r.file).relative_to(work))
            if r.split == "train":
                e.files.append(rel)
                e.tokens += r.tokens
                e.docs += r.docs
            else:
                e.heldout_files.append(rel)
                e.heldout_tokens += r.tokens
                e.heldout_docs += r.docs
        if not entries:
            raise StageError("mix: the input has no documents; check the stages before `mix`")
        dom_tokens: dict[str, int] = {}
        for c, e in entries.items():
            dom_tokens[e.group] = dom_tokens.get(e.group, 0) + e.tokens
        try:
            dom_weights = choose_weights(dom_tokens, cfg)
        except ScheduleError as e:
            raise StageError(str(e)) from None
        weights, ratio, style_w = split_cells(dom_weights, cells, cfg.origin_ratio, cfg.style_weights)
        tokens = {c: e.tokens for c, e in entries.items()}
        empty = [c for c, w in weights.items() if w > 0 and tokens[c] <= 0]
        if empty:
            raise StageError(f"mix: mixture domain(s) {empty} have weight but zero training tokens; lower "
                             f"heldout_fraction or give them weight 0")
        budget = cfg.budget_tokens or sum(tokens.values())
        weights, epochs = cap_epochs(weights, tokens, budget, cfg.max_epochs)
        repeated = repeated_past(epochs, REPEAT_WARN)
        if repeated:
            warnings.warn(f"mix: domain(s) repeat more than {REPEAT_WARN:g} epochs within the budget: {repeated}; "
                          f"returns diminish past ~4 repetitions", MixtureWarning, stacklevel=2)
        for c, e in entries.items():
            e.weight, e.epochs = weights[c], epochs[c]
            if e.origin == "real" and e.group == c:
                e.group = None  # a real cell is its own domain
        tok_rel = "tokenizer.json" if not cfg.tokenizer else str(tok_path)
        spec = MixtureSpec(dtype=dtype, tokenizer={"path": tok_rel, "vocab_size": vocab, "eos_id": eos_id(tok)},
                           budget_tokens=budget, domains=entries, max_epochs=cfg.max_epochs,
                           weights_method=cfg.weights if isinstance(cfg.weights, str) else "explicit",
                           origin_ratio=ratio, style_weights=style_w)
        save_mixture(spec, work / "mixture.json")
        self._stats = {"tokens": tokens, "weights": {d: round(w, 6) for d, w in weights.items()},
                       "epochs": {d: round(e, 4) for d, e in epochs.items()}, "budget_tokens": budget,
                       "repeated_past_4": repeated, "origin_ratio": ratio, "style_weights": style_w}

    def tag(self, df):
        return df  # mix tags nothing: every document that reaches it is in a shard

    def stats(self):
        return getattr(self, "_stats", {})
