"""`gristmill plan-filter CONFIG`: the quality threshold that minimizes predicted loss for a token budget."""
from __future__ import annotations

import sys

HELP = ("compute-aware filtering (Goyal et al. 2024): bucket the corpus by a quality score, fit each bucket's "
        "utility and its decay with repetition from short proxy runs, print the threshold that minimizes predicted "
        "loss for a token budget (see configs/plan_filter.yaml)")


def add_arguments(p):
    p.add_argument("config", help="plan-filter YAML (keys: PlanConfig in trainer_hooks/experiment/plan_filter.py)")
    p.add_argument("--budget", type=float, nargs="+", metavar="TOKENS", help="token budget(s) to plan for, e.g. 2e9")
    p.add_argument("--steps", type=int, help="training steps per proxy run")
    p.add_argument("--quiet", "-q", action="store_true")


def main(args) -> int:
    import json

    from ...trainer_hooks.experiment.plan_filter import load_plan, recommendation, run_plan
    cfg = load_plan(args.config, budgets=[int(b) for b in args.budget] if args.budget else None)
    if args.steps:
        cfg.train.steps = args.steps
    exp, result = run_plan(cfg, quiet=args.quiet)
    print((exp / "plan.md").read_text())
    best = {p["budget_tokens"]: recommendation(result, p["best"]) for p in result["plans"]}
    print(json.dumps({"recommendation": best}, indent=2))
    print(f"plan: {exp}/plan.md, {exp}/plan.json", file=sys.stderr)
    return 0
