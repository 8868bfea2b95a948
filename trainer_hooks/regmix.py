"""RegMix (Liu et al., 2024, "RegMix: Data Mixture as Regression for Language Model Pre-training").

Train small proxies on sampled mixtures, regress the target held-out loss on the mixture weights, and propose
the mixture the regression predicts best. As the paper:
- mixtures are Dirichlet draws whose mean is the token distribution smoothed by a temperature of 0.5, with a
  concentration ("strength") picked per draw from 15 log-spaced values in [0.1, 5.0]; a draw that puts more
  than 15x a domain's natural share on it is rejected, and weights below 2e-4 are zeroed;
- 512 proxies (`PAPER`); `QUICK` (16 proxies) is for smoke runs and is named as such in the result;
- the regressor is LightGBM (scikit-learn gradient boosting when LightGBM is missing), and the proposal is the
  mean of the top 100 of many simulated mixtures.
Our addition: the natural mixture is always proxy 0, a baseline beside the proposal.

What the paper reports and we report too: held-out fit quality. The fit is scored out of fold (k-fold R^2 and
Spearman rank correlation), never in-sample (a boosted tree fits noise to R^2 ~1); when the out-of-fold R^2 is
not above 0 the fit is no better than predicting the mean loss and a `RegmixWarning` says so. The proposal's
predicted loss comes with a 90% interval from the out-of-fold residuals (a CV+ style conformal interval, Barber
et al. 2021).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .mixture import load_mixture
from .schedules import ScheduleError
from .train import train
from .train_config import ScheduleSpec, TrainConfig


class RegmixWarning(UserWarning):
    pass


@dataclass(frozen=True)
class Sampling:
    proxies: int = 512
    temperature: float = 0.5
    min_strength: float = 0.1
    max_strength: float = 5.0
    n_strengths: int = 15
    max_usage: float = 15.0
    minimum: float = 2e-4
    mode: str = "paper"


PAPER = Sampling()
QUICK = Sampling(proxies=16, mode="quick")


def sample_mixtures(natural: dict[str, float], k: int, seed: int = 0, s: Sampling = PAPER) -> list[dict[str, float]]:
    """The natural mixture first, then k-1 RegMix draws (see the module docstring); zero-weight domains stay 0."""
    names = sorted(natural)
    base = np.array([natural[d] for d in names], dtype=np.float64)
    live = base > 0
    if not live.any():
        raise ScheduleError("regmix: every domain has weight 0 in the natural mixture")
    base = base / base.sum()
    prior = base[live] ** s.temperature
    prior = prior / prior.sum()
    bound = np.minimum(base[live] * s.max_usage, 1.0)
    if bound.sum() < 1.0:
        raise ScheduleError(f"regmix: max_usage={s.max_usage} leaves no mixture that sums to 1")
    strengths = np.logspace(np.log10(s.min_strength), np.log10(s.max_strength), s.n_strengths)
    rng = np.random.default_rng(seed)
    out = [dict(zip(names, base))]
    tries = 0
    while len(out) < k:
        tries += 1
        if tries > 1000 * k:
            raise ScheduleError(f"regmix: could not draw {k} mixtures within max_usage={s.max_usage}; "
                                f"raise max_usage")
        w = rng.dirichlet(prior * rng.choice(strengths))
        if (w > bound).any():
            continue
        w = np.where(w < s.minimum, 0.0, w)
        if w.sum() <= 0:
            continue
        full = np.zeros(len(names))
        full[live] = w / w.sum()
        out.append(dict(zip(names, full)))
    return out


def make_regressor(prefer: str = "lightgbm"):
    if prefer == "lightgbm":
        try:
            from lightgbm import LGBMRegressor
            # few proxies: let leaves hold single samples, otherwise LightGBM refuses to split at all
            return "lightgbm", LGBMRegressor(n_estimators=200, learning_rate=0.05, num_leaves=8,
                                             min_child_samples=1, min_data_in_bin=1, verbose=-1)
        except ImportError:
            pass
    from sklearn.ensemble import GradientBoostingRegressor
    return "sklearn", GradientBoostingRegressor(n_estimators=200, learning_rate=0.05, max_depth=2,
                                                random_state=0)


def fit_quality(X: np.ndarray, y: np.ndarray, prefer: str, folds: int = 5, seed: int = 0) -> dict:
    """Out-of-fold predictions -> R^2 against the mean of y, Spearman's rho, and the residuals."""
    from scipy.stats import spearmanr
    n = len(y)
    folds = min(folds, n)
    if folds < 2:
        raise ScheduleError("regmix: held-out fit quality needs at least 2 proxies")
    order = np.random.default_rng(seed).permutation(n)
    oof = np.empty(n)
    for f in range(folds):
        test = order[f::folds]
        train_idx = np.setdiff1d(order, test)
        _, reg = make_regressor(prefer)
        reg.fit(X[train_idx], y[train_idx])
        oof[test] = reg.predict(X[test])
    sst = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - oof) ** 2)) / sst if sst > 0 else float("nan")
    rho = float(spearmanr(oof, y).statistic) if np.ptp(oof) > 0 and np.ptp(y) > 0 else float("nan")
    return {"folds": folds, "cv_r2": r2, "cv_spearman": rho, "residuals": (y - oof)}


def propose(X: np.ndarray, y: np.ndarray, names: list[str], natural: dict[str, float], *,
            n_candidates: int = 20000, top_k: int = 100, seed: int = 0, prefer: str = "lightgbm",
            sampling: Sampling = PAPER, coverage: float = 0.9) -> dict:
    q = fit_quality(X, y, prefer, seed=seed)
    kind, reg = make_regressor(prefer)
    reg.fit(X, y)
    cands = np.array([[m[d] for d in names] for m in sample_mixtures(natural, n_candidates, seed + 1, sampling)])
    pred = reg.predict(cands)
    best = cands[np.argsort(pred)[:top_k]].mean(axis=0)
    best = best / best.sum()
    at = float(reg.predict(best[None, :])[0])
    lo, hi = np.quantile(q["residuals"], [(1 - coverage) / 2, (1 + coverage) / 2])
    better = bool(q["cv_r2"] > 0)
    warning = None
    if not better:
        warning = (f"regmix: the regression predicts held-out proxies no better than their mean loss (k-fold "
                   f"R^2 {q['cv_r2']:.3f}, Spearman {q['cv_spearman']:.3f} over {len(y)} proxies); the proposal "
                   f"is not supported by the data. Train more proxies, longer, or on a target that varies "
                   f"with the mixture")
        warnings.warn(warning, RegmixWarning, stacklevel=2)
    return {"regressor": kind, "proposal": dict(zip(names, best.round(6).tolist())),
            "predicted_target": at, "predicted_interval": [at + float(lo), at + float(hi)],
            "interval_coverage": coverage, "cv_r2": q["cv_r2"], "cv_spearman": q["cv_spearman"],
            "cv_folds": q["folds"], "train_r2": float(reg.score(X, y)), "better_than_constant": better,
            "warning": warning}


def run_regmix(base: TrainConfig, out_dir: str | Path, *, sampling: Sampling = PAPER, k: int | None = None,
               steps: int = 200, target: list[str] | None = None, seed: int = 0, prefer: str = "lightgbm",
               quiet: bool = False) -> dict:
    """Train the proxies (a finished one is reused on rerun), fit, propose; writes regmix.json and regmix.md."""
    k = k or sampling.proxies
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mixture = load_mixture(base.mixture)
    names = sorted(mixture.domains)
    natural = {d: float(mixture.tokens[d]) for d in names}
    total = sum(natural.values())
    natural = {d: v / total for d, v in natural.items()}
    unknown = [d for d in (target or []) if d not in names]
    if unknown:
        raise ScheduleError(f"regmix: target domain(s) {unknown} are not in the mixture; domains: {names}")
    proxies = []
    for i, w in enumerate(sample_mixtures(natural, k, seed, sampling)):
        # a finished proxy's checkpoint is at its last step, so a rerun reuses it instead of training again
        # proxies explore mixtures on purpose (bounded by max_usage): repetition is recorded, not fatal
        cfg = base.model_copy(update={"out_dir": str(out / f"proxy-{i:03d}"), "steps": steps, "stop_at": None,
                                      "resume": True, "schedule": ScheduleSpec(type="static", weights=w),
                                      "on_repeat": "warn"})
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            summary = train(cfg, quiet=True)
        held = summary["heldout"]
        doms = [d for d in (target or held) if d in held]
        if not doms:
            raise ScheduleError("regmix: no target domain has held-out data; lower block_size or add data")
        proxies.append({"proxy": i, "weights": w, "heldout": held, "target": float(np.mean([held[d] for d in doms]))})
        if not quiet:
            print(f"proxy {i + 1}/{k}: target loss {proxies[-1]['target']:.4f}", flush=True)
    X = np.array([[p["weights"][d] for d in names] for p in proxies])
    y = np.array([p["target"] for p in proxies])
    result = {"target_domains": target or "all", "steps": steps, "k": k, "sampling": asdict(sampling),
              "mode": sampling.mode, "natural": natural, "proxies": proxies,
              **propose(X, y, names, natural, seed=seed, prefer=prefer, sampling=sampling)}
    (out / "regmix.json").write_text(json.dumps(result, indent=2))
    (out / "regmix.md").write_text(table(result, names))
    return result


def table(result: dict, names: list[str]) -> str:
    head = "| mixture | " + " | ".join(names) + " | target loss |\n|---|" + "---|" * (len(names) + 1) + "\n"
    rows = [f"| proxy {p['proxy']} | " + " | ".join(f"{p['weights'][d]:.3f}" for d in names)
            + f" | {p['target']:.4f} |" for p in result["proxies"]]
    lo, hi = result["predicted_interval"]
    rows.append("| **proposal** | " + " | ".join(f"{result['proposal'][d]:.3f}" for d in names)
                + f" | {result['predicted_target']:.4f} (predicted, {result['interval_coverage']:.0%} interval "
                  f"{lo:.4f} to {hi:.4f}) |")
    notes = [f"\nmode: {result['mode']} ({result['k']} proxies). Held-out fit ({result['cv_folds']}-fold): "
             f"R^2 {result['cv_r2']:.3f}, Spearman {result['cv_spearman']:.3f} (in-sample R^2 "
             f"{result['train_r2']:.3f}, not a measure of fit)."]
    if result["warning"]:
        notes.append(f"\n**Warning:** {result['warning']}")
    return head + "\n".join(rows) + "\n" + "\n".join(notes) + "\n"
