"""Reading the training logs into the outcome: per-arm losses over seeds, curves, tokens to reach raw's loss,
and what cleaning and rephrasing did to the data (DuckDB aggregates over the arms' run folders)."""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from ...pipeline.rundir import RunDir
from .common import finished_stages, mixture_json
from .config import ABLATE_PREFIX, EVAL_PREFIX, ExperimentConfig, ExperimentError


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


def reach_over_seeds(curves: list[list[tuple[int, float]]], target: float) -> dict:
    """Tokens to reach `target` on each seed's curve: how many seeds reached it, and over those the mean, sample
    standard deviation and range (the interval the outcome reports).

    >>> r = reach_over_seeds([[(100, 5.0), (200, 3.0)], [(100, 4.0), (200, 3.5)], [(100, 5.0), (200, 4.5)]], 4.0)
    >>> r["seeds"], r["reached"], r["mean"], r["min"], r["max"]
    (3, 2, 125.0, 100.0, 150.0)
    """
    xs = [tokens_to_reach(c, target) for c in curves]
    got = [x for x in xs if x is not None]
    out = {"seeds": len(xs), "reached": len(got), "per_seed": xs}
    if got:
        mean, sd = _mean_sd(got)
        out.update(mean=mean, sd=sd, min=min(got), max=max(got))
    return out


def difference(a: tuple[float, float], b: tuple[float, float], n_a: int, n_b: int) -> tuple[float, float]:
    """(mean of a - mean of b, its standard error) from (mean, sample sd) over n_a and n_b seeds.

    >>> difference((5.0, 0.3), (4.0, 0.4), 9, 16)
    (1.0, 0.14142135623730953)
    """
    return a[0] - b[0], (a[1] ** 2 / n_a + b[1] ** 2 / n_b) ** 0.5


def ablation_deltas(arms: dict) -> dict:
    """Leave-one-stage-out arms against clean: loss without the stage minus loss with it, on the corpus's held-out
    split and on each target (positive: the stage helped)."""
    if "clean" not in arms:
        return {}
    c = arms["clean"]
    out = {}
    for arm, a in arms.items():
        if arm.startswith(ABLATE_PREFIX):
            out[arm[len(ABLATE_PREFIX):]] = {
                "corpus": difference(a["overall"], c["overall"], a["seeds"], c["seeds"]),
                "targets": {n: difference(a["targets"][n], c["targets"][n], a["seeds"], c["seeds"])
                            for n in c["targets"]}, "docs": a["docs"], "clean_docs": c["docs"]}
    return out


def summarize(cfg: ExperimentConfig, runs: dict[str, Path], mixtures: dict[str, Path], logs: dict[str, list[Path]],
              upsample_domain: str | None, skipped: dict[str, str], split_info: dict) -> dict:
    t = cfg.train
    arms = {}
    eval_domains = None
    for arm, paths in logs.items():
        m = mixture_json(mixtures["clean" if arm == "clean+upsample" else arm])["domains"]
        parsed = [read_log(p, t.batch_size, t.block_size) for p in paths]
        # the corpus's own held-out domains (the secondary row) and the named target sets (eval.<name>)
        doms = sorted(d for d in parsed[0]["evals"][-1][1] if not d.startswith(EVAL_PREFIX))
        targets = sorted(d[len(EVAL_PREFIX):] for d in parsed[0]["evals"][-1][1] if d.startswith(EVAL_PREFIX))
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
        m = {d: e for d, e in m.items() if not d.startswith(EVAL_PREFIX)}
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
            "targets": {n: _mean_sd([f[EVAL_PREFIX + n] for f in finals]) for n in targets},
            "target_curves": {n: [[(x, e[EVAL_PREFIX + n]) for x, e in p["evals"]] for p in parsed] for n in targets},
        }
    reach = {}
    if "raw" in arms:
        target = arms["raw"]["overall"][0]
        for arm, a in arms.items():
            x = tokens_to_reach(a["curve"], target)
            reach[arm] = x
    target_reach = {}
    if "raw" in arms:
        for n, (raw_final, _) in arms["raw"]["targets"].items():
            target_reach[n] = {"raw_final": raw_final, "arms": {
                arm: reach_over_seeds(a["target_curves"][n], raw_final) for arm, a in arms.items()}}
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
            "tokens_to_reach_raw_final": reach,
            "targets": target_reach, "ablation": ablation_deltas(arms), "upsample": upsample, "rephrased": rephrased,
            "clean_rejections": dropped,
            "machine": {"loadavg": _loadavg(), "cpus": os.cpu_count(), "device": _device(t.device)}}


def clean_rejections(run: Path) -> dict[str, dict[str, list[int]]]:
    """{domain: {drop_reason: [documents, characters]}} over the clean arm's stages: what cleaning took from
    each domain, and why (aggregates in DuckDB)."""
    import duckdb
    out: dict[str, dict[str, list[int]]] = {}
    for st in finished_stages(run):
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
    st = next(s for s in finished_stages(run) if s["name"] == "rephrase")
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

