"""RegMix (Liu et al., 2024): train tiny proxies on K sampled mixtures, regress target loss on weights, propose.

Mixtures are Dirichlet draws around the natural weights; each proxy is the bundled loop with a static schedule
for a few hundred steps. A regressor (LightGBM, else scikit-learn gradient boosting) maps weights to the
target held-out loss; many more candidate mixtures are scored with it and the best `top_k` are averaged into the
proposal (averaging the top candidates, as the paper does, is steadier than taking the single argmin)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .mixture import load_mixture
from .schedules import ScheduleError
from .train import train
from .train_config import ScheduleSpec, TrainConfig


def sample_mixtures(natural: dict[str, float], k: int, concentration: float = 1.0,
                    seed: int = 0) -> list[dict[str, float]]:
    """The natural mixture first, then k-1 Dirichlet draws with mean `natural`; zero-weight domains stay 0."""
    names = sorted(natural)
    base = np.array([natural[d] for d in names], dtype=np.float64)
    live = base > 0
    if not live.any():
        raise ScheduleError("regmix: every domain has weight 0 in the natural mixture")
    rng = np.random.default_rng(seed)
    out = [dict(zip(names, base / base.sum()))]
    alpha = base[live] / base[live].sum() * concentration * live.sum()
    for _ in range(k - 1):
        w = np.zeros(len(names))
        w[live] = rng.dirichlet(alpha)
        out.append(dict(zip(names, w)))
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


def propose(X: np.ndarray, y: np.ndarray, names: list[str], natural: dict[str, float], *,
            n_candidates: int = 20000, top_k: int = 100, concentration: float = 1.0, seed: int = 0,
            prefer: str = "lightgbm") -> dict:
    kind, reg = make_regressor(prefer)
    reg.fit(X, y)
    cands = np.array([[m[d] for d in names] for m in
                      sample_mixtures(natural, n_candidates, concentration, seed + 1)])
    pred = reg.predict(cands)
    best = cands[np.argsort(pred)[:top_k]].mean(axis=0)
    best = best / best.sum()
    return {"regressor": kind, "proposal": dict(zip(names, best.round(6).tolist())),
            "predicted_target": float(reg.predict(best[None, :])[0]),
            "fit_r2": float(reg.score(X, y)) if len(y) > 1 else None}


def run_regmix(base: TrainConfig, out_dir: str | Path, *, k: int = 8, steps: int = 200,
               target: list[str] | None = None, concentration: float = 1.0, seed: int = 0,
               prefer: str = "lightgbm", quiet: bool = False) -> dict:
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
    for i, w in enumerate(sample_mixtures(natural, k, concentration, seed)):
        # a finished proxy's checkpoint is at its last step, so a rerun reuses it instead of training again
        cfg = base.model_copy(update={"out_dir": str(out / f"proxy-{i:03d}"), "steps": steps, "stop_at": None,
                                      "resume": True, "schedule": ScheduleSpec(type="static", weights=w)})
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
    result = {"target_domains": target or "all", "steps": steps, "k": k, "natural": natural, "proxies": proxies,
              **propose(X, y, names, natural, concentration=concentration, seed=seed, prefer=prefer)}
    (out / "regmix.json").write_text(json.dumps(result, indent=2))
    (out / "regmix.md").write_text(table(result, names))
    return result


def table(result: dict, names: list[str]) -> str:
    head = "| mixture | " + " | ".join(names) + " | target loss |\n|---|" + "---|" * (len(names) + 1) + "\n"
    rows = [f"| proxy {p['proxy']} | " + " | ".join(f"{p['weights'][d]:.3f}" for d in names)
            + f" | {p['target']:.4f} |" for p in result["proxies"]]
    rows.append("| **proposal** | " + " | ".join(f"{result['proposal'][d]:.3f}" for d in names)
                + f" | {result['predicted_target']:.4f} (predicted) |")
    return head + "\n".join(rows) + "\n"
