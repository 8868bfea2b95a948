"""Does curation pay? `gristmill experiment` with configs/experiment.yaml's defaults on two corpora.

    .venv/bin/python benchmarks/bench_outcome.py quickstart   # the quickstart corpus (python_env input)
    .venv/bin/python benchmarks/bench_outcome.py real         # ../shared/data: web + 11-domain mix + stdlib
    .venv/bin/python benchmarks/bench_outcome.py plan-filter  # configs/plan_filter.yaml: compute-aware filtering

`real` (set GRISTMILL_SHARED_DATA when ../shared/data is elsewhere) first writes one jsonl.gz (id, text, url,
source, domain) from: the 11-domain mix, all 747 web pages in ../shared/data/web (250 of the CommonCrawl pages are
also in the mix, so raw has real cross-file duplicates), the standard library's own code (every 4th .py file outside
tests, under 200 KB) as `code` and its documentation topics (pydoc_data) as `docs`. Results:
benchmarks/results/outcome_<corpus>.md and .png, with the machine load.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, REPO, RESULTS, SHARED, publish, read_jsonl  # noqa: E402

DATA = Path(os.environ.get("GRISTMILL_SHARED_DATA", SHARED))  # a worktree sits one level deeper than ../shared


# the real corpus's per-domain recipe: each domain its own rules and language list (issue 31)
_PROSE = ["web", "wikipedia", "news", "speech", "review", "patent", "grant_abstract", "arxiv", "docs"]
REAL_CLEAN = [
    {"normalize": {}},
    {"length": {"min_chars": 200, "min_words": 30, "domains": _PROSE}},
    {"langid": {"languages": ["en"], "min_score": 0.5, "domains": _PROSE + ["math"]}},
    {"langid": {"languages": ["en", "es"], "min_score": 0.5, "domains": ["stackexchange"]}},
    {"dedup_exact": {"scope": "global"}},
    {"dedup_minhash": {"num_perm": 112, "bands": 14, "ngram": 5, "threshold": 0.8}},
    {"quality": {"rules": ["fineweb"], "domains": ["web", "news"]}},
    {"quality": {"rules": ["fineweb"], "fineweb": {"min_line_punct_ratio": None, "max_char_dup_ratio": 0.1},
                 "domains": ["code"]}},
]


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def real_corpus() -> Path:
    out = CACHE / "outcome_real.jsonl.gz"
    if out.exists():
        return out
    rows = []
    for r in read_jsonl(DATA / "domains" / "domain_mix.jsonl.gz"):
        rows.append({"id": r["id"], "text": r["text"], "url": (r.get("meta") or {}).get("url"),
                     "source": "domain_mix", "domain": r["domain"]})
    for f in sorted((DATA / "web").glob("*.jsonl.gz")):
        for i, r in enumerate(read_jsonl(f)):
            md = r.get("metadata") or r.get("meta") or {}
            rows.append({"id": f"{f.name.split('.')[0]}:{i}", "text": r.get("text") or "",
                         "url": md.get("url") if isinstance(md, dict) else None, "source": f.name, "domain": "web"})
    lib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in lib.rglob("*.py") if "test" not in p.relative_to(lib).parts[0]
                   and "site-packages" not in p.parts and p.stat().st_size < 200_000)
    for p in files[::4]:
        rows.append({"id": f"stdlib:{p.relative_to(lib)}", "text": p.read_text(encoding="utf-8", errors="replace"),
                     "url": None, "source": "python_stdlib", "domain": "code"})
    from pydoc_data.topics import topics
    for k in sorted(topics):
        rows.append({"id": f"pydoc:{k}", "text": topics[k], "url": None, "source": "python_docs", "domain": "docs"})
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return out


def plan_filter(args) -> None:
    """`gristmill plan-filter configs/plan_filter.yaml` on the quickstart corpus (`--full`: the experiment's GPU
    model for the proxies); the plan, its fit and held-out error go to outcome_plan_filter.md."""
    cfg = yaml.safe_load((REPO / "configs" / "plan_filter.yaml").read_text())
    cfg.update(runs_dir=str(CACHE / "runs"))
    if args.full:
        exp = yaml.safe_load((REPO / "configs" / "experiment.yaml").read_text())["full"]
        cfg["train"].update({k: v for k, v in exp.items() if k != "steps"}, steps=2000, device="auto")
        cfg["proxy"]["pool_fraction"] = 1.0  # 2000 x 64 x 256 tokens repeat whole buckets (~0.5M tokens) enough
        cfg["name"] += "-full"
    if args.steps:
        cfg["train"]["steps"] = args.steps
    if args.eval_every:
        cfg["train"]["eval_every"] = args.eval_every
    if args.budget:
        cfg["budgets"] = [int(b) for b in args.budget]
    path = CACHE / "plan_filter.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    load0, t0 = _loadavg(), time.time()
    from gristmill.pipeline.cli import main as gristmill
    rc = gristmill(["plan-filter", str(path)])
    if rc:
        sys.exit(rc)
    exp = CACHE / "runs" / cfg["name"] / "plan_filter"
    t = cfg["train"]
    argv = [a for i, a in enumerate(sys.argv[1:]) if "--note" not in (a, sys.argv[i])]
    note = f" {args.note}" if args.note else ""
    publish("outcome_plan_filter", f"### Compute-aware filtering: plan-filter (quickstart corpus)\n\n"
            f"`.venv/bin/python benchmarks/bench_outcome.py {' '.join(argv)}` (configs/plan_filter.yaml; proxies "
            f"{t['steps']} steps x {t['batch_size']} x {t['block_size']} tokens, model {t['model']}); "
            f"{time.time() - t0:.0f} s wall; load average {load0} at the start, {_loadavg()} at the end.{note}\n\n"
            + (exp / "plan.md").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", choices=["quickstart", "real", "plan-filter"])
    ap.add_argument("--budget", type=float, nargs="+", help="plan-filter: token budgets")
    ap.add_argument("--full", action="store_true", help="the GPU settings (record the device)")
    ap.add_argument("--steps", type=int, help="fewer training steps than the default (say why in the note)")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--arms", nargs="+", help="only these arms (say which in the note)")
    ap.add_argument("--eval-batches", type=int, help="held-out windows per domain / batch (evaluation cost)")
    ap.add_argument("--eval-every", type=int)
    ap.add_argument("--ablate", action="store_true", help="also the leave-one-stage-out arms")
    ap.add_argument("--rephrase", nargs="+", metavar="KEY=VALUE", default=[],
                    help="override rephrase settings, e.g. sample=8 (the CPU cost of the rephrased arm)")
    ap.add_argument("--tag", default="", help="results outcome_<corpus>_<tag>.md, run outcome-<corpus>-<tag>")
    ap.add_argument("--reuse", metavar="TAG", help="train in the run folder of the run tagged TAG ('' for none): its "
                    "finished pipelines and training runs at the same settings are kept, not redone")
    ap.add_argument("--note", default="", help="a sentence for the header, e.g. why steps were cut")
    args = ap.parse_args()
    if args.corpus == "plan-filter":
        return plan_filter(args)
    cfg = yaml.safe_load((REPO / "configs" / "experiment.yaml").read_text())
    run_tag = args.tag if args.reuse is None else args.reuse
    cfg.update(name=f"outcome-{args.corpus}" + (f"-{run_tag}" if run_tag else ""), runs_dir=str(CACHE / "runs"))
    if args.corpus == "real":
        cfg.update(input={"format": "jsonl", "path": str(real_corpus()), "url_field": "url",
                          "source_field": "source", "keep_fields": ["domain"]},
                   domain={"from": "column", "column": "domain"}, clean=REAL_CLEAN)
    for kv in args.rephrase:
        k, _, v = kv.partition("=")
        cfg.setdefault("rephrase", {})[k] = yaml.safe_load(v)
    for key in ("eval_batches", "eval_every"):
        if getattr(args, key):
            cfg["train"][key] = getattr(args, key)
    path = CACHE / f"outcome_{args.corpus}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    load0, t0 = _loadavg(), time.time()
    from gristmill.pipeline.cli import main as gristmill
    extra = (["--full"] if args.full else []) + (["--steps", str(args.steps)] if args.steps else []) \
        + (["--seeds", str(args.seeds)] if args.seeds else []) + (["--arms", *args.arms] if args.arms else []) \
        + (["--ablate"] if args.ablate else [])
    rc = gristmill(["experiment", str(path), *extra])
    if rc:
        sys.exit(rc)
    exp = CACHE / "runs" / cfg["name"] / "experiment"
    stem = f"outcome_{args.corpus}" + (f"_{args.tag}" if args.tag else "")
    shutil.copyfile(exp / "outcome.png", RESULTS / f"{stem}.png")
    extra += [f"{k}={cfg['train'][k]}" for k in ("eval_batches", "eval_every") if k in cfg["train"]]
    extra += [f"rephrase.{kv}" for kv in args.rephrase]
    argv = [a for i, a in enumerate(sys.argv[1:]) if "--note" not in (a, sys.argv[i])]  # the note is in the text
    cmd = f"`.venv/bin/python benchmarks/bench_outcome.py {' '.join(argv)}`"
    settings = f"defaults{', ' + ' '.join(extra) if extra else ''}"
    note = f" {args.note}" if args.note else ""
    publish(stem, f"### Does curation pay? ({args.corpus})\n\n{cmd} (configs/experiment.yaml "
            f"{settings}); {time.time() - t0:.0f} s wall; load average (1/5/15 min) {load0} at the start, "
            f"{_loadavg()} at the end.{note}\n\n![curves]({stem}.png)\n\n"
            + (exp / "outcome.md").read_text())

if __name__ == "__main__":
    main()
