"""Does curation pay? Arms built by gristmill's own pipeline, trained at equal tokens, scored on one held-out set.

From one raw corpus, `gristmill experiment CONFIG`:

1. **split**: a pipeline run (`domain`, `dedup_exact`, `dedup_minhash`) labels every document with its duplicate
   group: the id of the exact-duplicate representative's near-duplicate cluster (its own id when it has none).
   A document is held out when the hash of that group id falls under `heldout.fraction`, so every copy and
   near-copy of a held-out document is held out with it; no arm can train on a held-out text or a near-copy
   (leakage). The held-out set keeps one document per group, so repeated licences do not dominate the score.
2. **arms**, each a `gristmill run` config written into the experiment folder (rerun one by hand to look closer):
   `raw` (the training side as read), `clean` (the `clean:` stages: langid, exact and near dedup, quality, ...),
   `clean+fl` (facility location to `select.budget`, INGENIOUS, Renduchintala et al. 2023), `clean+random` (random
   at the same document count: the control), `clean+rephrased` (the `rephrase` stage when installed, WRAP, Maini
   et al. 2024), `clean+upsample` (clean with end-of-training upsampling of one domain, Blakeney et al. 2024).
   One BPE tokenizer (trained by `raw`'s `mix` on the training side only) serves every arm and the held-out set.
3. **training**: `gristmill train` on every arm x seed at the same steps, batch and block (equal training tokens),
   the same WSD learning rate (its decay aligned with the upsampling window for every arm), evaluating on the same
   fixed held-out windows; per-domain losses are averaged over domains for the overall number (macro mean).
4. **outcome**: outcome.json / outcome.md / outcome.png under RUN/experiment/, and a section in
   `gristmill report RUN`.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ..pipeline.rundir import RunDir
from .mixture import MixtureSpec, load_mixture, save_mixture

ARMS = ("raw", "clean", "clean+fl", "clean+random", "clean+rephrased", "clean+upsample")
DEFAULT_CLEAN = [{"normalize": {}}, {"length": {"min_chars": 200, "min_words": 30}},
                 {"langid": {"languages": ["en"], "min_score": 0.5}}, {"dedup_exact": {"scope": "global"}},
                 {"dedup_minhash": {"num_perm": 112, "bands": 14, "ngram": 5, "threshold": 0.8}},
                 {"quality": {"rules": ["fineweb"]}}]
# --full: a GPU-sized run (about 20M parameters, 100M tokens per run); override any key under `full:`
FULL = {"steps": 6000, "batch_size": 64, "block_size": 256, "vocab_size": 8192, "eval_batches": 32,
        "model": {"n_layer": 6, "n_head": 6, "n_embd": 384}, "lr": 1.5e-3}


class ExperimentError(ValueError):
    """A setting or an input the experiment cannot use; the message says what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeldoutSpec(_Strict):
    fraction: float = Field(0.1, gt=0, lt=0.5, description="share of duplicate groups held out (by id hash)")
    batches: int = Field(4, ge=1, description="fixed held-out windows per domain = batches x batch_size; every "
                                              "evaluation costs batches x domains forward passes")


class SelectSpec(_Strict):
    budget: float = Field(0.5, gt=0, le=1, description="share (or count, > 1) of clean documents to keep")
    selector: str = "facility_location"
    max_tokens: int = Field(128, ge=8, description="embedding window per document")
    params: dict[str, Any] = Field(default_factory=lambda: {"k": 5})


class UpsampleSpec(_Strict):
    domain: str | None = Field(None, description="domain upsampled at the end; default: the smallest clean "
                                                 "domain with at least `min_share` of clean training tokens and "
                                                 "held-out windows")
    min_share: float = Field(0.05, ge=0, lt=1, description="the default domain's least share of clean training "
                                                           "tokens: a domain of 1% gets too few tokens, even "
                                                           "upsampled, for its held-out loss to move")
    factor: float = Field(4.0, gt=1)
    last_fraction: float = Field(0.2, gt=0, lt=1)


class TrainSpec(_Strict):
    seeds: int = Field(3, ge=1)
    steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    block_size: int = Field(64, ge=8)
    vocab_size: int = Field(2048, ge=256)
    eval_every: int | None = Field(None, ge=1, description="default: steps / 10")
    eval_batches: int | None = Field(None, ge=1, description="overrides heldout.batches")
    model: dict[str, Any] = Field(default_factory=lambda: {"n_layer": 2, "n_head": 4, "n_embd": 64})
    lr: float = Field(3e-3, gt=0)
    warmup: int = Field(20, ge=0)
    device: str = "auto"
    cpu_threads: int | None = Field(
        1, ge=1, description="torch (OpenMP) threads per process on CPU, Spark workers included; on a shared "
                             "machine more threads spin-wait on each other (measured 10x slower with 2 threads "
                             "at load 40 on 2 cores); null: torch's default")

    @property
    def tokens(self) -> int:
        return self.steps * self.batch_size * self.block_size


class ExperimentConfig(_Strict):
    name: str = "experiment"
    runs_dir: str = "runs"
    input: dict = Field(..., description="a pipeline `input:` block (any format gristmill reads)")
    domain: dict = Field(default_factory=lambda: {"from": "source"},
                         description="settings of the `domain` stage that labels documents")
    near_dedup: dict = Field(default_factory=lambda: {"num_perm": 112, "bands": 14, "ngram": 5, "threshold": 0.8},
                             description="`dedup_minhash` settings used to find near-copies of held-out docs")
    clean: list[dict[str, dict | None]] = Field(default_factory=lambda: [dict(s) for s in DEFAULT_CLEAN])
    select: SelectSpec = Field(default_factory=SelectSpec)
    rephrase: dict = Field(default_factory=dict, description="settings of the `rephrase` stage, when installed")
    upsample: UpsampleSpec = Field(default_factory=UpsampleSpec)
    heldout: HeldoutSpec = Field(default_factory=HeldoutSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    full: dict = Field(default_factory=dict, description="train overrides for --full (GPU)")
    arms: list[str] = Field(default_factory=lambda: list(ARMS))
    spark: dict = Field(default_factory=lambda: {"master": "local[2]", "driver_memory": "2g"})


def load_experiment(path: str | Path, full: bool = False, **overrides) -> ExperimentConfig:
    from pydantic import ValidationError

    from gristmill.pipeline.config import format_validation
    p = Path(path)
    if not p.exists():
        raise ExperimentError(f"config file {p} does not exist")
    raw = yaml.safe_load(p.read_text()) or {}
    if not isinstance(raw, dict):
        raise ExperimentError(f"{p}: expected a mapping at the top level")
    # a relative input path means relative to the config file, like a pipeline config run from its folder
    inp = dict(raw.get("input") or {})
    if isinstance(inp.get("path"), (str, list)):
        paths = inp["path"] if isinstance(inp["path"], list) else [inp["path"]]
        inp["path"] = [str((p.parent / q).resolve()) if not Path(q).is_absolute() else q for q in paths]
        raw["input"] = inp
    train = dict(raw.get("train") or {})
    if full:
        train.update({**FULL, **(raw.get("full") or {})})
    train.update({k: v for k, v in overrides.items() if v is not None and k != "arms"})
    raw["train"] = train
    if overrides.get("arms"):
        raw["arms"] = overrides["arms"]
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as e:
        raise ExperimentError(format_validation(e, str(p))) from None
    unknown = [a for a in cfg.arms if a not in ARMS]
    if unknown:
        raise ExperimentError(f"{p}: unknown arm(s) {unknown}; arms: {', '.join(ARMS)}")
    return cfg


# -- running gristmill's own commands ----------------------------------------------------------------
def _gristmill(*argv: str) -> str:
    """Run one `gristmill` command in this process (one Spark session for all); its stdout is returned."""
    from gristmill.pipeline.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(list(argv))
    if rc:
        raise ExperimentError(f"`gristmill {' '.join(argv)}` failed (exit {rc}); see the error above")
    return out.getvalue()


def _write_yaml(path: Path, obj: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, sort_keys=False))
    return path


def _run_pipeline(cfg_path: Path) -> Path:
    _gristmill("run", str(cfg_path), "--quiet")
    raw = yaml.safe_load(cfg_path.read_text())
    return Path(raw["runs_dir"]) / raw["name"]


def _stages(run_dir: Path) -> list[dict]:
    """The run's finished stages (committed with the hash the manifest records), as RunDir answers it."""
    return RunDir(run_dir).finished()


def _last_kept(run_dir: Path, before: str | None = None) -> Path:
    names = [s for s in _stages(run_dir) if s["name"] != before]
    return RunDir(run_dir).kept(names[-1]["dir"])


def _mixture_json(path: Path) -> dict:
    """A mixture through the one validating reader (trainer_hooks/mixture.py), as its JSON fields."""
    return load_mixture(path).spec.to_json()


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _parquet_input(folder: Path) -> dict:
    return {"format": "parquet", "path": str(folder), "id_field": "id", "url_field": "url",
            "source_field": "source", "keep_fields": ["domain"]}


# -- 1. the split ------------------------------------------------------------------------------------
def split(cfg: ExperimentConfig, run_dir: Path, exp: Path, quiet: bool) -> tuple[Path, Path, dict]:
    """Label duplicate groups with the pipeline, then write train/ and heldout/ Parquet (in Spark)."""
    from pyspark.sql import functions as F

    from gristmill.pipeline.spark import SparkConfig, get_spark
    conf = {"name": run_dir.name, "runs_dir": str(run_dir.parent), "input": cfg.input, "spark": cfg.spark,
            "stages": [{"domain": cfg.domain}, {"dedup_exact": {"scope": "global"}},
                       {"dedup_minhash": {**cfg.near_dedup, "scope": "global"}}]}
    _say(quiet, "split: labelling domains and duplicate groups")
    _run_pipeline(_write_yaml(exp / "configs" / "split.yaml", conf))
    stages = _stages(run_dir)
    rd = RunDir(run_dir)
    st = {s["name"]: s["dir"] for s in stages}
    data = exp / "data"
    key = {"stages": [s["hash"] for s in stages], "fraction": cfg.heldout.fraction, "version": 1}
    done = _read_json(data / "split.json")
    if done and done.get("key") == key:  # rewriting would change the Parquet files and rerun every arm
        return data / "train", data / "heldout", done["info"]
    spark = get_spark(SparkConfig.model_validate(cfg.spark))
    read = spark.read.parquet
    docs = read(str(rd.kept(st["domain"]))).select("id", "text", "source", "url", "domain")
    mh = read(str(rd.kept(st["dedup_minhash"]))).select("id", "minhash_cluster")
    mh_rej = read(str(rd.rejected(st["dedup_minhash"]))).select("id", "minhash_cluster")
    group = mh.unionByName(mh_rej).select("id", F.coalesce("minhash_cluster", "id").alias("group"))
    exact = read(str(rd.rejected(st["dedup_exact"]))).select("id", "duplicate_of")
    exact_groups = (exact.join(group.withColumnRenamed("id", "duplicate_of"), "duplicate_of")
                         .select("id", "group"))
    groups = group.unionByName(exact_groups)
    h = F.conv(F.substring(F.sha1(F.col("group")), 1, 8), 16, 10).cast("double") / float(1 << 32)
    # a document no dedup stage saw keeps its own id as its group (a reader that repeats an id can cause this)
    tagged = (docs.join(groups.dropDuplicates(["id"]), "id", "left")
                  .withColumn("group", F.coalesce("group", "id"))
                  .withColumn("_held", h < F.lit(cfg.heldout.fraction)))
    reps = mh.select("id").withColumn("_rep", F.lit(True))  # one document per duplicate group
    tagged.where(~F.col("_held")).drop("_held", "group").write.mode("overwrite").parquet(str(data / "train"))
    (tagged.where(F.col("_held")).join(reps, "id").drop("_held", "group", "_rep")
           .write.mode("overwrite").parquet(str(data / "heldout")))
    counts = (tagged.join(reps, "id", "left")
                    .agg(F.count("*").alias("docs"), F.sum(F.col("_held").cast("int")).alias("held_all"),
                         F.sum((F.col("_held") & F.col("_rep").isNotNull()).cast("int")).alias("held_unique"),
                    ).first())
    info = {"docs": counts["docs"], "heldout_docs_with_copies": counts["held_all"],
            "heldout_docs": counts["held_unique"], "train_side_docs": counts["docs"] - counts["held_all"]}
    if not info["heldout_docs"]:
        raise ExperimentError(f"no document was held out of {info['docs']}; raise heldout.fraction")
    (data / "split.json").write_text(json.dumps({"key": key, "info": info}, indent=2))
    return data / "train", data / "heldout", info


# -- 2. the arms -------------------------------------------------------------------------------------
def _mix(cfg: ExperimentConfig, tokenizer: str | None) -> dict:
    m = {"weights": "natural", "heldout_fraction": 0.0, "vocab_size": cfg.train.vocab_size,
         "max_epochs": 1e6}  # arms differ in data, not in mixing policy: natural weights, no epoch cap
    if tokenizer:
        m["tokenizer"] = tokenizer
    return m


def _arm_config(cfg, exp: Path, name: str, inp: dict, stages: list, tokenizer: str | None) -> Path:
    conf = {"name": name.replace("+", "_"), "runs_dir": str(exp / "arms"), "input": inp, "spark": cfg.spark,
            "stages": stages, "mix": _mix(cfg, tokenizer)}
    return _write_yaml(exp / "configs" / f"{conf['name']}.yaml", conf)


def rephrase_available() -> str | None:
    """None when a `rephrase` stage is registered, else why the arm is skipped."""
    from gristmill.pipeline.stage import StageError, get_stage
    try:
        get_stage("rephrase")
    except StageError:
        return "no `rephrase` stage is installed in this gristmill (WRAP rephrasing has not landed yet)"
    return None


def build_arms(cfg: ExperimentConfig, exp: Path, train_dir: Path, held_dir: Path, quiet: bool):
    """Run every arm's pipeline; returns ({arm: run dir}, held-out run dir, {arm: why skipped})."""
    wanted, runs, skipped = set(cfg.arms), {}, {}
    _say(quiet, "arm raw: everything on the training side, as read (trains the shared tokenizer)")
    runs["raw"] = _run_pipeline(_arm_config(cfg, exp, "raw", _parquet_input(train_dir), [], None))
    mixture = _mixture_json(RunDir(runs["raw"]).mixture)
    tok = str((runs["raw"] / mixture["tokenizer"]["path"]).resolve())
    held = _run_pipeline(_arm_config(cfg, exp, "heldout", _parquet_input(held_dir), [], tok))
    if wanted & {"clean", "clean+fl", "clean+random", "clean+rephrased", "clean+upsample"}:
        _say(quiet, "arm clean: " + ", ".join(next(iter(s)) for s in cfg.clean))
        runs["clean"] = _run_pipeline(_arm_config(cfg, exp, "clean", _parquet_input(train_dir), cfg.clean, tok))
        clean_kept = _last_kept(runs["clean"], before="mix")
        sel = cfg.select
        budget = int(sel.budget) if sel.budget > 1 else sel.budget
        for arm, selector, params in (("clean+fl", sel.selector, sel.params), ("clean+random", "random", {})):
            if arm in wanted:
                _say(quiet, f"arm {arm}: {selector} to {budget} of clean")
                stage = {"select": {"selector": selector, "budget": budget, "params": params,
                                    "max_tokens": sel.max_tokens}}
                runs[arm] = _run_pipeline(_arm_config(cfg, exp, arm, _parquet_input(clean_kept), [stage], tok))
        if "clean+rephrased" in wanted:
            why = rephrase_available()
            if why:
                skipped["clean+rephrased"] = why
                _say(quiet, f"arm clean+rephrased skipped: {why}")
            else:
                _say(quiet, "arm clean+rephrased: clean plus WRAP rephrasings")
                runs["clean+rephrased"] = _run_pipeline(_arm_config(
                    cfg, exp, "clean+rephrased", _parquet_input(clean_kept), [{"rephrase": cfg.rephrase}], tok))
    return runs, held, skipped


def eval_mixtures(runs: dict[str, Path], held: Path, block_size: int) -> dict[str, Path]:
    """Each arm's mixture with the shared held-out shards, over one domain list for all arms (so the fixed
    held-out windows, drawn per domain in sorted order, are the same for every arm). A domain with fewer training
    tokens than one window (e.g. one short rephrasing) gets weight 0, the others share its weight: the trainer
    cannot draw from it."""
    held_m = _mixture_json(RunDir(held).mixture)
    arms = {a: _mixture_json(RunDir(r).mixture) for a, r in runs.items()}
    domains = sorted(set(held_m["domains"]).union(*(m["domains"] for m in arms.values())))
    out = {}
    for arm, m in arms.items():
        base = runs[arm]
        new = dict(m, domains={})
        for d in domains:
            e = dict(m["domains"].get(d) or {"files": [], "tokens": 0, "docs": 0, "weight": 0.0, "epochs": 0.0})
            h = held_m["domains"].get(d) or {"files": [], "tokens": 0, "docs": 0}
            e["heldout_files"] = [os.path.relpath(held / f, base) for f in h["files"]]
            e["heldout_tokens"], e["heldout_docs"] = h["tokens"], h.get("docs", 0)
            new["domains"][d] = e
        short = [d for d, e in new["domains"].items() if e.get("weight") and e["tokens"] <= block_size]
        if short:
            left = sum(e.get("weight") or 0.0 for d, e in new["domains"].items() if d not in short)
            for d, e in new["domains"].items():
                e["weight"] = 0.0 if d in short else (e.get("weight") or 0.0) / left
        path = base / "mixture.eval.json"
        save_mixture(MixtureSpec.from_json(new, str(path)), path)
        out[arm] = path
    return out


# -- 3. training -------------------------------------------------------------------------------------
def pick_upsample_domain(cfg: ExperimentConfig, clean_mix: Path) -> tuple[str | None, str | None]:
    """(domain, None), or (None, why the clean+upsample arm is skipped)."""
    m = _mixture_json(clean_mix)["domains"]
    up = cfg.upsample
    if up.domain:
        if up.domain not in m or not m[up.domain]["tokens"]:
            raise ExperimentError(f"upsample.domain {up.domain!r} has no clean training tokens; "
                                  f"clean domains: {sorted(d for d in m if m[d]['tokens'])}")
        return up.domain, None
    total = sum(e["tokens"] for e in m.values()) or 1
    # one held-out window is block_size + 1 tokens (inputs and the shifted targets)
    windowed = {d for d, e in m.items() if e["tokens"] and e["heldout_tokens"] > cfg.train.block_size}
    ok = [d for d in windowed if m[d]["tokens"] / total >= up.min_share]
    if not ok:
        shares = ", ".join(f"{d} {m[d]['tokens'] / total:.1%}" for d in sorted(windowed)) or "none"
        return None, (f"no clean domain has both held-out windows and at least upsample.min_share="
                      f"{up.min_share:g} of clean training tokens (domains with held-out windows: {shares}); "
                      f"lower upsample.min_share or name upsample.domain")
    return min(ok, key=lambda d: (m[d]["tokens"], d)), None


def train_config(cfg: ExperimentConfig, mixture: Path, out: Path, seed: int, upsample: dict | None) -> dict:
    t = cfg.train
    sched = {"type": "static"} if upsample is None else {"type": "static", "upsample": upsample}
    return {"mixture": str(mixture), "out_dir": str(out), "seed": seed, "steps": t.steps,
            "batch_size": t.batch_size, "block_size": t.block_size, "model": t.model, "lr": t.lr,
            "warmup": min(t.warmup, t.steps // 5), "lr_schedule": "wsd",
            "wsd_decay_fraction": cfg.upsample.last_fraction, "align_decay": True, "schedule": sched,
            "log_every": max(1, min(10, t.steps // 10)), "eval_every": t.eval_every or max(1, t.steps // 10),
            "eval_batches": t.eval_batches or cfg.heldout.batches, "ckpt_every": t.steps, "device": t.device}


def _finished(log: Path, steps: int) -> bool:
    if not log.exists():
        return False
    recs = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    return any(r.get("step") == steps and "heldout" in r for r in recs)


def train_arms(cfg: ExperimentConfig, exp: Path, mixtures: dict[str, Path], upsample_domain: str | None,
               quiet: bool) -> dict[str, list[Path]]:
    from gristmill.pipeline.config import digest
    jobs = [(a, mixtures[a], None) for a in mixtures]
    if upsample_domain:
        up = {"domains": [upsample_domain], "factor": cfg.upsample.factor,
              "last_fraction": cfg.upsample.last_fraction}
        jobs.append(("clean+upsample", mixtures["clean"], up))
    logs: dict[str, list[Path]] = {}
    for arm, mixture, up in jobs:
        for seed in range(cfg.train.seeds):
            probe = train_config(cfg, mixture, Path("."), seed, up)
            out = exp / "train" / arm.replace("+", "_") / f"seed{seed}-{digest(probe)[:8]}"
            conf = train_config(cfg, mixture, out, seed, up)
            log = out / "log.jsonl"
            if not _finished(log, cfg.train.steps):
                path = _write_yaml(out / "train.yaml", conf)
                t0 = time.time()
                _gristmill("train", str(path), "--quiet", "--no-resume")
                _say(quiet, f"trained {arm} seed {seed}: {cfg.train.tokens:,} tokens in {time.time() - t0:.0f} s")
            logs.setdefault(arm, []).append(log)
    return logs


# -- 4. the outcome ----------------------------------------------------------------------------------
def read_log(log: Path, batch: int, block: int) -> dict:
    recs = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    evals = [(r["step"] * batch * block, r["heldout"]) for r in recs if "heldout" in r]
    seen: dict[str, float] = {}
    prev = 0
    for r in recs:  # tokens drawn per domain: the schedule's weights over each logging interval
        if "weights" in r:
            n = (r["step"] - prev) * batch * block
            for d, w in r["weights"].items():
                seen[d] = seen.get(d, 0.0) + w * n
            prev = r["step"]
    return {"evals": evals, "seen": seen}


def _mean_sd(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def tokens_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """First token count at which a loss curve reaches `target`, linearly interpolated between evaluations.

    >>> tokens_to_reach([(100, 5.0), (200, 4.0), (300, 3.0)], 3.5)
    250.0
    >>> tokens_to_reach([(100, 5.0), (200, 4.0)], 3.0) is None
    True
    """
    prev = None
    for x, y in curve:
        if y <= target:
            if prev is None or prev[1] == y:
                return float(x)
            return prev[0] + (prev[1] - target) / (prev[1] - y) * (x - prev[0])
        prev = (x, y)
    return None


def summarize(cfg: ExperimentConfig, runs: dict[str, Path], mixtures: dict[str, Path], logs: dict[str, list[Path]],
              upsample_domain: str | None, skipped: dict[str, str], split_info: dict) -> dict:
    t = cfg.train
    arms = {}
    eval_domains = None
    for arm, paths in logs.items():
        m = _mixture_json(mixtures["clean" if arm == "clean+upsample" else arm])["domains"]
        parsed = [read_log(p, t.batch_size, t.block_size) for p in paths]
        doms = sorted(parsed[0]["evals"][-1][1])
        eval_domains = eval_domains or doms
        if doms != eval_domains:
            raise ExperimentError(f"arm {arm} was evaluated on domains {doms}, others on {eval_domains}")
        finals = [p["evals"][-1][1] for p in parsed]
        overall = [statistics.fmean(f[d] for d in doms) for f in finals]
        # the overall curve (mean over seeds at each evaluation) for plots and tokens-to-reach
        steps = [x for x, _ in parsed[0]["evals"]]
        curve = [(x, statistics.fmean(statistics.fmean(p["evals"][i][1][d] for d in doms) for p in parsed))
                 for i, x in enumerate(steps)]
        spread = [(x, min(statistics.fmean(p["evals"][i][1][d] for d in doms) for p in parsed),
                   max(statistics.fmean(p["evals"][i][1][d] for d in doms) for p in parsed))
                  for i, x in enumerate(steps)]
        unique = {d: int(e["tokens"]) for d, e in m.items()}
        seen = {d: statistics.fmean(p["seen"].get(d, 0.0) for p in parsed) for d in m}
        arms[arm] = {
            "run": str(runs["clean" if arm == "clean+upsample" else arm]),
            "seeds": len(paths),
            "overall": _mean_sd(overall),
            "domains": {d: _mean_sd([f[d] for f in finals]) for d in doms},
            "tokens_seen": t.tokens,
            "unique_tokens": sum(unique.values()),
            "docs": sum(int(e.get("docs", 0)) for e in m.values()),
            "unique_tokens_by_domain": unique,
            "epochs_by_domain": {d: (seen[d] / unique[d] if unique[d] else 0.0) for d in m if seen[d] or unique[d]},
            "curve": curve, "spread": spread,
        }
    reach = {}
    if "raw" in arms:
        target = arms["raw"]["overall"][0]
        for arm, a in arms.items():
            x = tokens_to_reach(a["curve"], target)
            reach[arm] = x
    upsample = None
    if upsample_domain and "clean+upsample" in arms and "clean" in arms and upsample_domain in eval_domains:
        c, u = arms["clean"]["domains"][upsample_domain], arms["clean+upsample"]["domains"][upsample_domain]
        upsample = {"domain": upsample_domain, "factor": cfg.upsample.factor,
                    "last_fraction": cfg.upsample.last_fraction, "clean": c, "upsampled": u,
                    "difference": u[0] - c[0]}
    rephrased = rephrased_share(runs["clean+rephrased"]) if "clean+rephrased" in arms else None
    dropped = clean_rejections(runs["clean"]) if "clean" in runs else None
    return {"config": cfg.model_dump(mode="json"), "split": split_info, "eval_domains": eval_domains,
            "train_tokens": t.tokens, "arms": arms, "skipped": skipped,
            "tokens_to_reach_raw_final": reach, "upsample": upsample, "rephrased": rephrased,
            "clean_rejections": dropped,
            "machine": {"loadavg": _loadavg(), "cpus": os.cpu_count(), "device": _device(t.device)}}


def clean_rejections(run: Path) -> dict[str, dict[str, list[int]]]:
    """{domain: {drop_reason: [documents, characters]}} over the clean arm's stages: what cleaning took from
    each domain, and why (aggregates in DuckDB)."""
    import duckdb
    out: dict[str, dict[str, list[int]]] = {}
    for st in _stages(run):
        folder = RunDir(run).rejected(st["dir"])
        if st["name"] == "mix" or not any(folder.rglob("*.parquet")):
            continue
        q = (f"SELECT coalesce(domain, '?'), drop_reason, count(*), sum(length(text)) "
             f"FROM read_parquet('{folder}/**/*.parquet') GROUP BY 1, 2")
        for dom, reason, n, chars in duckdb.sql(q).fetchall():
            out.setdefault(dom, {})[reason] = [int(n), int(chars or 0)]
    return out


def rephrased_share(run: Path) -> dict:
    """What the clean+rephrased arm added: synthetic rows kept and rejected, and their share of the arm's text
    (characters; the arm's tokens are not split by origin). Aggregates in DuckDB, nothing per document."""
    import duckdb
    st = next(s for s in _stages(run) if s["name"] == "rephrase")
    folder = RunDir(run).stage(st["dir"])

    def agg(part: str) -> dict:
        if not any((folder / part).rglob("*.parquet")):
            return {}
        q = (f"SELECT coalesce(origin, 'real'), count(*), sum(length(text)), count(DISTINCT parent_id) "
             f"FROM read_parquet('{folder / part}/**/*.parquet') GROUP BY 1")
        return {r[0]: r[1:] for r in duckdb.sql(q).fetchall()}
    kept, rej = agg("kept"), agg("rejected")
    real, syn = kept.get("real", (0, 0, 0)), kept.get("synthetic", (0, 0, 0))
    chars = (real[1] or 0) + (syn[1] or 0)
    return {"synthetic_kept": syn[0], "synthetic_rejected": rej.get("synthetic", (0,))[0],
            "parents": syn[2], "real_docs": real[0], "synthetic_char_share": (syn[1] or 0) / chars if chars else 0.0}


def _loadavg() -> str | None:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return None


def _device(want: str) -> str:
    import torch
    if want != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "cpu"


def _fmt(ms: tuple[float, float]) -> str:
    return f"{ms[0]:.3f} ± {ms[1]:.3f}"


def markdown(outcome: dict) -> str:
    arms, doms = outcome["arms"], outcome["eval_domains"]
    cfg = outcome["config"]
    t = cfg["train"]
    lines = ["| arm | docs | unique tokens | tokens seen | held-out loss (all) | " + " | ".join(doms)
             + " | epochs per domain |",
             "|---" * (5 + len(doms)) + "|---|"]
    for arm, a in arms.items():
        ep = ", ".join(f"{d} {e:.3g}" for d, e in sorted(a["epochs_by_domain"].items()))
        lines.append(f"| {arm} | {a['docs']:,} | {a['unique_tokens']:,} | {a['tokens_seen']:,} | "
                     f"{_fmt(a['overall'])} | " + " | ".join(_fmt(a["domains"][d]) for d in doms) + f" | {ep} |")
    out = ["\n".join(lines), ""]
    out += [_domain_table(outcome), ""]
    reach = outcome["tokens_to_reach_raw_final"]
    if reach:
        raw_final = arms["raw"]["overall"][0]
        rows = []
        for arm, x in reach.items():
            rows.append(f"- {arm}: " + (f"{x:,.0f} tokens ({x / outcome['train_tokens']:.2f} of the run)" if x
                                        is not None else f"not reached in {outcome['train_tokens']:,} tokens"))
        out.append(f"Tokens to reach raw's final held-out loss ({raw_final:.3f}), read off the mean-over-seeds "
                   f"curves (evaluated every {t['eval_every'] or max(1, t['steps'] // 10)} steps, linear in "
                   f"between):\n" + "\n".join(rows) + "\n")
    up = outcome["upsample"]
    if up:
        out.append(f"End-of-training upsampling of `{up['domain']}` (x{up['factor']:g} in the last "
                   f"{up['last_fraction']:.0%}): held-out loss on {up['domain']} {_fmt(up['clean'])} (clean) -> "
                   f"{_fmt(up['upsampled'])} (clean+upsample), difference {up['difference']:+.3f}.\n")
    rp = outcome.get("rephrased")
    if rp:
        out.append(f"clean+rephrased: {rp['synthetic_kept']:,} WRAP rephrasings kept ({rp['synthetic_rejected']:,} "
                   f"rejected by the answer checks) of {rp['parents']:,} clean documents, beside the "
                   f"{rp['real_docs']:,} real ones: {rp['synthetic_char_share']:.1%} of the arm's text (a CPU-sized "
                   f"share set by `rephrase.sample`/`max_chunks`; WRAP rephrases everything and samples 1:1).\n")
    for arm, why in outcome["skipped"].items():
        out.append(f"Arm {arm} skipped: {why}.\n")
    s, mach = outcome["split"], outcome["machine"]
    out.append(f"Held-out: {s['heldout_docs']:,} documents (one per duplicate group; {s['heldout_docs_with_copies']:,} "
               f"with their copies and near-copies, none of which any arm trains on) of {s['docs']:,}; "
               f"{cfg['train']['eval_batches'] or cfg['heldout']['batches']} fixed windows of "
               f"{t['batch_size']}x{t['block_size']} tokens per domain, the same for every arm; 'all' is the mean "
               f"over domains. Loss = mean ± sample standard deviation over {t['seeds']} seeds. Model "
               f"{t['model']}, vocab {t['vocab_size']}, {t['steps']} steps x {t['batch_size']} x "
               f"{t['block_size']} tokens, lr {t['lr']} WSD. Device {mach['device']}, {mach['cpus']} CPUs, load average "
               f"at the end {mach['loadavg']} (1/5/15 min, runnable/all, last pid); {outcome.get('seconds', '?')} s.")
    return "\n".join(out)


def _domain_table(outcome: dict) -> str:
    """Training tokens per domain in every arm, and the clean stages' main reasons for dropping from each."""
    arms = outcome["arms"]
    doms = sorted(set().union(*(a["unique_tokens_by_domain"] for a in arms.values())))
    names = [a for a in arms if a != "clean+upsample"]  # the same data as clean
    lines = ["Unique training tokens per domain (share of the arm's tokens):", "",
             "| domain | " + " | ".join(names) + " | clean kept of raw | clean's main drop reasons (docs) |",
             "|---" * (len(names) + 3) + "|"]
    drops = outcome.get("clean_rejections") or {}
    for d in doms:
        cells = []
        for a in names:
            n, total = arms[a]["unique_tokens_by_domain"].get(d, 0), arms[a]["unique_tokens"] or 1
            cells.append(f"{n:,} ({n / total:.0%})")
        raw = arms.get("raw", {}).get("unique_tokens_by_domain", {}).get(d, 0)
        clean = arms.get("clean", {}).get("unique_tokens_by_domain", {}).get(d, 0)
        kept = f"{clean / raw:.0%}" if raw and "clean" in arms else ""
        top = sorted(drops.get(d, {}).items(), key=lambda kv: -kv[1][0])[:3]
        why = ", ".join(f"{r} {v[0]:,}" for r, v in top)
        lines.append(f"| {d} | " + " | ".join(cells) + f" | {kept} | {why} |")
    return "\n".join(lines)


def plot(outcome: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    arms = outcome["arms"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for arm, a in arms.items():
        xs = [x for x, _ in a["curve"]]
        line, = ax.plot(xs, [y for _, y in a["curve"]], label=arm, linewidth=1.4)
        ax.fill_between(xs, [lo for _, lo, _ in a["spread"]], [hi for _, _, hi in a["spread"]],
                        color=line.get_color(), alpha=0.15, linewidth=0)
    if "raw" in arms:
        ax.axhline(arms["raw"]["overall"][0], color="grey", linestyle=":", linewidth=1, label="raw final")
    ax.set_xlabel("training tokens")
    ax.set_ylabel("held-out loss (mean over domains)")
    ax.set_title("held-out loss vs tokens (mean over seeds; band: min-max)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(f"[experiment] {msg}", file=sys.stderr, flush=True)


def run_experiment(cfg: ExperimentConfig, quiet: bool = False) -> Path:
    """Everything above, in order; every step resumes (finished pipeline stages and training runs are kept)."""
    if cfg.train.cpu_threads:
        # before Spark starts, so its Python workers (embedding for facility location) inherit it too
        os.environ.setdefault("OMP_NUM_THREADS", str(cfg.train.cpu_threads))
        import torch
        if not torch.cuda.is_available():
            torch.set_num_threads(cfg.train.cpu_threads)
    run_dir = (Path(cfg.runs_dir) / cfg.name).resolve()
    exp = run_dir / "experiment"
    exp.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    train_dir, held_dir, info = split(cfg, run_dir, exp, quiet)
    runs, held, skipped = build_arms(cfg, exp, train_dir, held_dir, quiet)
    mixtures = eval_mixtures(runs, held, cfg.train.block_size)
    up_domain = None
    if "clean+upsample" in cfg.arms:
        up_domain, why = pick_upsample_domain(cfg, mixtures["clean"])
        if why:
            skipped["clean+upsample"] = why
            _say(quiet, f"arm clean+upsample skipped: {why}")
    # the upsampling arm is read against clean, so clean trains whenever it runs
    train_mix = {a: m for a, m in mixtures.items() if a in cfg.arms or (a == "clean" and up_domain)}
    logs = train_arms(cfg, exp, train_mix, up_domain, quiet)
    outcome = summarize(cfg, runs, mixtures, logs, up_domain, skipped, info)
    outcome["seconds"] = round(time.time() - t0, 1)
    (exp / "outcome.json").write_text(json.dumps(outcome, indent=2))
    (exp / "outcome.md").write_text(markdown(outcome) + "\n")
    plot(outcome, exp / "outcome.png")
    return exp
