"""`gristmill plan-filter`: how much to filter for a token budget, from "Scaling Laws for Data Filtering -- Data
Curation cannot be Compute Agnostic" (Goyal et al., CVPR 2024; the equations are in scaling.py).

1. the experiment's split (held-out documents, their near-copies and the `eval:` targets kept out of training);
2. a `quality` stage scores every training-side document (`score`: the classifier's `quality_score` or any rule
   signal column); rows the stage rejects keep their scores, so every document lands in a bucket;
3. buckets: `buckets` equal-count quantiles of the score, best first (the paper's pools: top 10%, 10-20%, ...);
   each bucket is cut by an id hash into disjoint parts so that nested proxy pools (`proxy.fractions` of
   `proxy.pool_fraction` of the bucket) share their documents, and one mix run tokenizes everything;
4. proxy runs: the bundled trainer on each bucket's pools at the same tokens, so a smaller pool is repeated more;
   every evaluation is a (bucket, pool tokens, tokens seen, loss) point;
5. the fit (scaling.fit) leaves the runs of pool `proxy.holdout` out and reports its error on them (the held-out
   error), then refits on every run for the plan;
6. the plan (scaling.plan): for each budget, the predicted loss of the top-k buckets of the full pool, repeated as
   needed; the best k gives the score threshold, `quality.classifier.top_fraction` and `mix.max_epochs`.

We choose otherwise than the paper in one place, on purpose: points in the learning rate's warmup and final decay
are left out of the fit (the law describes a run at a steady learning rate, the WSD schedule's stable phase).
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from pydantic import Field

from gristmill.stages.quality.rules import signal_cut

from .arms import _arm_config, _parquet_input, _read_json, eval_mixtures, split
from .common import finished_stages, mixture_json, run_pipeline, say, write_yaml
from .config import EvalTarget, ExperimentError, HeldoutSpec, TrainSpec, _default_targets, _Strict
from .scaling import Fit, Point, fit, plan
from .training import _finished, _train


class ProxySpec(_Strict):
    pool_fraction: float = Field(1.0, gt=0, le=1, description="share of each bucket the proxy pools draw from "
                                                              "(a large corpus: small, so that pools repeat)")
    fractions: list[float] = Field(default_factory=lambda: [1.0, 0.5, 0.25], min_length=2,
                                   description="nested proxy pools, shares of pool_fraction of a bucket")
    holdout: float | None = Field(0.5, description="the pool (one of fractions) whose runs the fit leaves out: "
                                                   "their error is the held-out error; null: none")


class PlanConfig(_Strict):
    name: str = "plan-filter"
    runs_dir: str = "runs"
    input: dict = Field(..., description="a pipeline `input:` block")
    domain: dict = Field(default_factory=lambda: {"from": "source"})
    near_dedup: dict = Field(default_factory=lambda: {"num_perm": 112, "bands": 14, "ngram": 5, "threshold": 0.8})
    heldout: HeldoutSpec = Field(default_factory=HeldoutSpec)
    eval: list[EvalTarget] = Field(default_factory=_default_targets)
    quality: dict = Field(default_factory=lambda: {"rules": ["fineweb"]},
                          description="settings of the `quality` stage that scores every document")
    score: str = Field("quality_score", description="the column to bucket by: quality_score (needs "
                                                    "quality.classifier) or a rule signal, e.g. "
                                                    "fineweb_line_punct_ratio")
    higher_is_better: bool = True
    buckets: int = Field(4, ge=1, le=20)
    proxy: ProxySpec = Field(default_factory=ProxySpec)
    train: TrainSpec = Field(default_factory=lambda: TrainSpec(seeds=1, steps=200))
    budgets: list[int] = Field(default_factory=list, description="token budgets to plan for (or --budget)")
    irreducible: float = Field(0.0, ge=0, description="d, the loss no data removes (eq. 1)")
    target: str = Field("all", description="the loss the law fits: all (mean over every held-out domain and "
                                           "target), targets (mean over the eval: targets) or one domain")
    spark: dict = Field(default_factory=lambda: {"master": "local[2]", "driver_memory": "2g"})


def load_plan(path: str | Path, **overrides: Any) -> PlanConfig:
    from .config import load_experiment_raw, validated
    p = Path(path)
    raw = load_experiment_raw(p)
    if overrides.get("budgets"):
        raw["budgets"] = overrides["budgets"]
    cfg = validated(PlanConfig, raw, p)
    if cfg.score == "quality_score" and not cfg.quality.get("classifier"):
        raise ExperimentError(f"{p}: score quality_score needs quality.classifier (a fastText model); or name a "
                              f"rule signal, e.g. score: fineweb_line_punct_ratio")
    if cfg.proxy.holdout is not None and cfg.proxy.holdout not in cfg.proxy.fractions:
        raise ExperimentError(f"{p}: proxy.holdout {cfg.proxy.holdout} is not one of proxy.fractions "
                              f"{cfg.proxy.fractions}")
    if not cfg.budgets:
        raise ExperimentError(f"{p}: no token budget; set budgets: [...] or pass --budget TOKENS")
    return cfg


# -- buckets --------------------------------------------------------------------------------------------------
def _parts(cfg: PlanConfig) -> list[float]:
    """Upper ends of the disjoint hash parts of a bucket, smallest first: pool f = parts up to f x pool_fraction."""
    return sorted(f * cfg.proxy.pool_fraction for f in set(cfg.proxy.fractions))


def bucketize(cfg: PlanConfig, exp: Path, score_run: Path, quiet: bool) -> tuple[Path, list[dict]]:
    """Every scored document (kept and rejected by the quality stage) with domain `q<bucket>.p<part>` (or
    `q<bucket>.rest`) into one Parquet folder, in Spark; returns it and per bucket its docs and score range."""
    from pyspark.sql import functions as F

    from gristmill.pipeline.rundir import RunDir
    from gristmill.pipeline.spark import SparkConfig, get_spark
    st = next(s for s in finished_stages(score_run) if s["name"] == "quality")
    folder = exp / "data" / "buckets"
    key = {"quality": st["hash"], "score": cfg.score, "higher": cfg.higher_is_better, "buckets": cfg.buckets,
           "parts": _parts(cfg), "version": 2}
    done = _read_json(folder / "_key.json")
    if done and done.get("key") == key:
        return folder / "docs", done["buckets"]
    spark = get_spark(SparkConfig.model_validate(cfg.spark))
    rd = RunDir(score_run)
    cols = ["id", "text", "source", "url", "domain"]
    kept = spark.read.parquet(str(rd.kept(st["dir"])))
    if cfg.score not in kept.columns:
        raise ExperimentError(f"the quality stage wrote no column {cfg.score!r}; its columns: "
                              f"{sorted(c for c in kept.columns if c not in cols)}")
    docs = kept.select(*cols, cfg.score).unionByName(
        spark.read.parquet(str(rd.rejected(st["dir"]))).select(*cols, cfg.score))
    # a document without a score (no text) goes to the worst bucket
    worst = F.lit(-math.inf if cfg.higher_is_better else math.inf)
    s = F.coalesce(F.col(cfg.score).cast("double"), worst)
    sign = 1.0 if cfg.higher_is_better else -1.0
    docs = docs.withColumn("_s", s * F.lit(sign)).cache()  # higher _s is better either way
    cuts = docs.approxQuantile("_s", [1.0 - j / cfg.buckets for j in range(1, cfg.buckets)], 0.001)
    bucket = sum((F.col("_s") < F.lit(c)).cast("int") for c in cuts) if cuts else F.lit(0)
    h = F.conv(F.substring(F.sha1(F.concat(F.lit("plan-filter:"), F.col("id"))), 1, 8), 16, 10).cast("double") \
        / float(1 << 32)
    part = F.lit("rest")
    for i, upper in reversed(list(enumerate(_parts(cfg)))):
        part = F.when(h < F.lit(upper), F.lit(f"p{i}")).otherwise(part)
    out = docs.withColumn("_b", bucket)
    out.select("id", "text", "source", "url", F.concat(F.lit("q"), F.col("_b"), F.lit("."), part).alias("domain")) \
       .write.mode("overwrite").parquet(str(folder / "docs"))
    stats = out.groupBy("_b").agg(F.count("*").alias("docs"), F.min("_s").alias("lo"), F.max("_s").alias("hi"))
    # worst and best score in each bucket (for a lower-is-better score the worst is the highest)
    buckets = sorted(({"bucket": r["_b"], "docs": r["docs"], "score_worst": _unsign(r["lo"], sign),
                       "score_best": _unsign(r["hi"], sign)} for r in stats.collect()), key=lambda b: b["bucket"])
    docs.unpersist()
    (folder / "_key.json").write_text(json.dumps({"key": key, "buckets": buckets}, indent=2))
    return folder / "docs", buckets


def _unsign(v: float, sign: float) -> float | None:
    return None if v is None or math.isinf(v) else v * sign


# -- proxy runs -----------------------------------------------------------------------------------------------
def proxy_mixtures(cfg: PlanConfig, base: Path, buckets: list[dict]) -> list[dict]:
    """One mixture per (bucket, pool), beside the eval mixture (its relative shard paths hold): natural weights
    over the bucket's parts up to the pool, 0 elsewhere."""
    m = json.loads((base / "mixture.eval.json").read_text())
    parts = _parts(cfg)
    out = []
    for b in buckets:
        q = f"q{b['bucket']}"
        for f in sorted(set(cfg.proxy.fractions), reverse=True):
            n = parts.index(f * cfg.proxy.pool_fraction) + 1
            cells = {f"{q}.p{i}" for i in range(n)}
            toks = {d: e["tokens"] for d, e in m["domains"].items()
                    if d in cells and e["tokens"] > cfg.train.block_size}
            pool = sum(toks.values())
            if not pool:
                continue
            new = dict(m, domains={d: dict(e, weight=toks.get(d, 0) / pool) for d, e in m["domains"].items()})
            path = base / f"mixture.proxy.{q}.f{f:g}.json"
            path.write_text(json.dumps(new, indent=2))
            out.append({"bucket": b["bucket"], "fraction": f, "pool_tokens": pool, "mixture": path})
    return out


def proxy_train_config(cfg: PlanConfig, mixture: Path, out: Path, seed: int) -> dict:
    t = cfg.train
    return {"mixture": str(mixture), "out_dir": str(out), "seed": seed, "steps": t.steps, "batch_size": t.batch_size,
            "block_size": t.block_size, "model": t.model, "lr": t.lr, "warmup": min(t.warmup, t.steps // 5),
            "lr_schedule": "wsd", "wsd_decay_fraction": 0.1, "align_decay": False, "schedule": {"type": "static"},
            "log_every": max(1, min(10, t.steps // 10)), "eval_every": t.eval_every or max(1, t.steps // 20),
            "eval_batches": t.eval_batches or cfg.heldout.batches, "ckpt_every": t.steps, "device": t.device}


def _target_loss(cfg: PlanConfig, losses: dict[str, float]) -> float:
    from .config import EVAL_PREFIX
    if cfg.target == "all":
        return statistics.fmean(losses.values())
    if cfg.target == "targets":
        xs = [v for d, v in losses.items() if d.startswith(EVAL_PREFIX)]
        if not xs:
            raise ExperimentError("target: targets, but no eval: target was evaluated")
        return statistics.fmean(xs)
    if cfg.target not in losses:
        raise ExperimentError(f"target {cfg.target!r} is not an evaluated domain: {sorted(losses)}")
    return losses[cfg.target]


def run_proxies(cfg: PlanConfig, exp: Path, proxies: list[dict], quiet: bool) -> list[dict]:
    """Train every proxy x seed (resumable); returns the proxies with their fit points (stable-phase evals)."""
    from gristmill.pipeline.config import digest
    t = cfg.train
    lo, hi = 2 * min(t.warmup, t.steps // 5), int(0.9 * t.steps)  # past warmup, before the final decay
    for p in proxies:
        p["points"] = []
        for seed in range(t.seeds):
            probe = proxy_train_config(cfg, p["mixture"], Path("."), seed)
            out = exp / "proxy" / f"q{p['bucket']}_f{p['fraction']:g}" / f"seed{seed}-{digest(probe)[:8]}"
            conf = proxy_train_config(cfg, p["mixture"], out, seed)
            log = out / "log.jsonl"
            if not _finished(log, t.steps):
                write_yaml(out / "train.yaml", conf)
                _train(conf, out / "train.yaml")
                say(quiet, f"proxy q{p['bucket']} pool {p['fraction']:g} seed {seed}: {p['pool_tokens']:,} tokens "
                           f"x {t.tokens / p['pool_tokens']:.2f} passes")
            for ln in log.read_text().splitlines():
                r = json.loads(ln) if ln.strip() else {}
                if "heldout" in r and lo <= r["step"] <= hi and r["step"] > 0:
                    p["points"].append(Point(p["bucket"], float(p["pool_tokens"]),
                                             float(r["step"] * t.batch_size * t.block_size),
                                             _target_loss(cfg, r["heldout"])))
    return proxies


# -- fit and plan ---------------------------------------------------------------------------------------------
def heldout_error(cfg: PlanConfig, proxies: list[dict], nb: int) -> dict | None:
    if cfg.proxy.holdout is None:
        return None
    train = [pt for p in proxies if p["fraction"] != cfg.proxy.holdout for pt in p["points"]]
    test = [pt for p in proxies if p["fraction"] == cfg.proxy.holdout for pt in p["points"]]
    if not test:
        return None
    f = fit(train, nb, cfg.irreducible)
    errs = [f.predict(pt.bucket, pt.pool, pt.tokens) - pt.loss for pt in test]
    return {"left_out_pool": cfg.proxy.holdout, "points": len(test), "mae": statistics.fmean(abs(e) for e in errs),
            "max_abs": max(abs(e) for e in errs), "mean_error": statistics.fmean(errs),
            "mape": statistics.fmean(abs(e) / pt.loss for e, pt in zip(errs, test))}


def best_plan(cfg: PlanConfig, f: Fit, buckets: list[dict], sizes: list[float], budget: int) -> dict:
    rows = plan(f, sizes, budget)
    total_docs = sum(b["docs"] for b in buckets)
    for r in rows:
        top = buckets[: r["top_buckets"]]
        r["top_fraction"] = sum(b["docs"] for b in top) / total_docs
        r["score_threshold"] = top[-1]["score_worst"]
    best = min(rows, key=lambda r: r["predicted_loss"])
    return {"budget_tokens": budget, "rows": rows, "best": best}


def run_plan(cfg: PlanConfig, quiet: bool = False) -> tuple[Path, dict]:
    run_dir = (Path(cfg.runs_dir) / cfg.name).resolve()
    exp = run_dir / "plan_filter"
    exp.mkdir(parents=True, exist_ok=True)
    train_dir, held_dir, info = split(cfg, run_dir, exp, quiet)
    say(quiet, f"scoring every training-side document ({cfg.score})")
    score_conf = {"name": "score", "runs_dir": str(exp / "arms"), "input": _parquet_input(train_dir),
                  "spark": cfg.spark, "stages": [{"quality": cfg.quality}]}
    score_run = run_pipeline(write_yaml(exp / "configs" / "score.yaml", score_conf))
    docs, buckets = bucketize(cfg, exp, score_run, quiet)
    say(quiet, f"{len(buckets)} buckets: " + ", ".join(f"q{b['bucket']} {b['docs']} docs" for b in buckets))
    runs = {"buckets": run_pipeline(_arm_config(cfg, exp, "buckets", _parquet_input(docs), [], None))}
    mix = mixture_json(runs["buckets"] / "mixture.json")
    tok = str((runs["buckets"] / mix["tokenizer"]["path"]).resolve())
    held = run_pipeline(_arm_config(cfg, exp, "heldout", _parquet_input(held_dir), [], tok))
    runs["_targets"] = run_pipeline(_arm_config(cfg, exp, "targets", _parquet_input(held_dir.parent / "targets"),
                                                [], tok))
    eval_mixtures(runs, held, cfg.train.block_size)
    sizes_by = {b["bucket"]: 0 for b in buckets}
    for d, e in mix["domains"].items():
        sizes_by[int(d.split(".")[0][1:])] += e["tokens"]
    buckets = [b for b in buckets if sizes_by[b["bucket"]]]
    proxies = run_proxies(cfg, exp, proxy_mixtures(cfg, runs["buckets"], buckets), quiet)
    # fit indices are positions in `buckets` (best first)
    pos = {b["bucket"]: i for i, b in enumerate(buckets)}
    for p in proxies:
        p["points"] = [Point(pos[pt.bucket], pt.pool, pt.tokens, pt.loss) for pt in p["points"]]
    held_err = heldout_error(cfg, proxies, len(buckets))
    f = fit([pt for p in proxies for pt in p["points"]], len(buckets), cfg.irreducible)
    sizes = [float(sizes_by[b["bucket"]]) for b in buckets]
    plans = [best_plan(cfg, f, buckets, sizes, b) for b in cfg.budgets]
    result = {"score": cfg.score, "higher_is_better": cfg.higher_is_better, "target": cfg.target,
              "buckets": [dict(b, tokens=s, b=f.b[i], tau=None if math.isinf(f.tau[i]) else f.tau[i])
                          for i, (b, s) in enumerate(zip(buckets, sizes))],
              "fit": {"log_a": f.log_a, "d": f.d, "rmse_log": f.rmse_log}, "heldout_error": held_err,
              "proxy": {"runs": [{k: (str(v) if k == "mixture" else v) for k, v in p.items() if k != "points"}
                                 for p in proxies], "tokens": cfg.train.tokens, "seeds": cfg.train.seeds},
              "split": info, "plans": plans}
    (exp / "plan.json").write_text(json.dumps(result, indent=2))
    (exp / "plan.md").write_text(markdown(result))
    return exp, result


def recommendation(r: dict, best: dict) -> dict:
    """The settings a user copies into a pipeline config: the classifier's top_fraction, or the quality rule
    setting that makes the same cut on a rule signal (quality.rules.SIGNAL_CUTS)."""
    out: dict[str, Any] = {"mix": {"max_epochs": math.ceil(best["epochs"] * 100) / 100}}
    cut = None if r["score"] == "quality_score" else signal_cut(r["score"], best["score_threshold"],
                                                                r["higher_is_better"])
    if r["score"] == "quality_score":
        out["quality"] = {"classifier": {"top_fraction": round(best["top_fraction"], 4)}}
    elif cut is not None:
        rule_set, setting, value = cut
        out["quality"] = {rule_set: {setting: value}}  # merged into a quality stage whose rules run rule_set
    else:
        # no one quality setting cuts on this signal: the cut itself, for a `where:` or a classifier trained on it
        out["score_threshold"] = {"column": r["score"], "keep_from": best["score_threshold"],
                                  "top_fraction": round(best["top_fraction"], 4)}
    return out


def markdown(r: dict) -> str:
    import yaml
    lines = [f"Buckets by `{r['score']}` ({'higher' if r['higher_is_better'] else 'lower'} is better), best first; "
             f"loss fitted: {r['target']}.", "",
             "| bucket | docs | tokens | score (worst .. best) | utility b | half-life tau (passes) |",
             "|---|---|---|---|---|---|"]
    for b in r["buckets"]:
        lo, hi = b["score_worst"], b["score_best"]
        tau = "inf" if b["tau"] is None else f"{b['tau']:.2f}"
        lines.append(f"| q{b['bucket']} | {b['docs']:,} | {b['tokens']:,.0f} | {_num(lo)} .. {_num(hi)} | "
                     f"{b['b']:.4f} | {tau} |")
    f, h = r["fit"], r["heldout_error"]
    lines += ["", f"Fit: log a = {f['log_a']:.4f}, d = {f['d']:g}, rmse in log(loss - d) {f['rmse_log']:.4f} on "
              f"{r['proxy']['tokens']:,} tokens per proxy run x {r['proxy']['seeds']} seed(s)."]
    if h:
        lines.append(f"Held-out error (runs of pool {h['left_out_pool']:g} left out of the fit, {h['points']} "
                     f"evaluations): MAE {h['mae']:.4f}, max {h['max_abs']:.4f}, mean signed {h['mean_error']:+.4f}, "
                     f"MAPE {h['mape']:.2%}.")
    for p in r["plans"]:
        lines += ["", f"Budget {p['budget_tokens']:,} tokens:", "",
                  "| top buckets | top fraction (docs) | score threshold | pool tokens | passes | predicted loss |",
                  "|---|---|---|---|---|---|"]
        for row in p["rows"]:
            star = " **best**" if row is p["best"] or row == p["best"] else ""
            lines.append(f"| {row['top_buckets']}{star} | {row['top_fraction']:.3f} | {_num(row['score_threshold'])} "
                         f"| {row['pool_tokens']:,.0f} | {row['epochs']:.2f} | {row['predicted_loss']:.4f} |")
        lines += ["", "```yaml", yaml.safe_dump(recommendation(r, p["best"]), sort_keys=False).strip(),
                  "```"]
    return "\n".join(lines) + "\n"


def _num(v) -> str:
    return "-" if v is None else f"{v:.4g}"
