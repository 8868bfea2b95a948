"""End-of-training domain upsampling vs a static mixture, equal tokens, on the 11-domain real mix (CPU).

1. gristmill's own pipeline builds the mixture: domain labels from the data, `mix` with natural weights, a BPE
   trained on the data, packed shards and 10% held-out documents per domain (Spark; skipped when up to date).
2. The tiny GPT trains twice from the same seed with the same WSD learning rate: the static natural mixture,
   and the same mixture with --domain upsampled --factor x in the last --last-fraction of steps (the WSD decay
   starts with it). Optionally a third run upweights the loss instead of upsampling.
3. Every pair of runs is repeated for --seeds seeds (model init and data order); the table shows each
   domain's held-out loss as the mean over seeds, and the difference as mean +- half the min-max range, with
   the per-seed differences beside it.

    .venv/bin/python benchmarks/bench_upsample.py             # 2 runs; minutes on 2 idle cores, more when busy
    .venv/bin/python benchmarks/bench_upsample.py --upweight  # adds the loss-upweighting run
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, SHARED, load_now, markdown_table, parity, publish, write_claims  # noqa: E402

DATA = SHARED / "domains" / "domain_mix.jsonl.gz"


def build_mixture(vocab: int, quiet: bool) -> Path:
    from gristmill.pipeline.config import parse_config
    from gristmill.pipeline.runner import Runner
    raw = {"name": f"bench-upsample-v{vocab}", "runs_dir": str(CACHE / "runs"),
           "input": {"format": "jsonl", "path": str(DATA), "url_field": "meta.url", "keep_fields": ["domain"]},
           "spark": {"master": "local[2]"},
           "stages": [{"domain": {"from": "column", "column": "domain"}}],
           "mix": {"weights": "natural", "vocab_size": vocab, "heldout_fraction": 0.1}}
    cfg, stages = parse_config(raw, "bench_upsample")
    return Runner(config=cfg, stages=stages, raw_config=raw, quiet=quiet).run() / "mixture.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--domain", default="math", help="the domain upsampled at the end")
    ap.add_argument("--factor", type=float, default=5.0)
    ap.add_argument("--last-fraction", type=float, default=0.2)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--upweight", action="store_true", help="also run the loss-upweighting variant")
    ap.add_argument("--seeds", default="0,1,2", help="seeds; each runs every schedule")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    from gristmill.trainer_hooks.train import TrainConfig, train
    mixture = build_mixture(args.vocab, args.quiet)
    out = CACHE / "upsample"
    up = {"domains": [args.domain], "factor": args.factor, "last_fraction": args.last_fraction}
    base = dict(mixture=str(mixture), steps=args.steps, batch_size=args.batch, block_size=args.block,
                model={"n_layer": args.n_layer, "n_head": 4, "n_embd": args.n_embd}, lr=3e-3, warmup=30,
                lr_schedule="wsd", wsd_decay_fraction=args.last_fraction, align_decay=True,
                eval_every=max(args.steps // 4, 1), eval_batches=8, ckpt_every=args.steps, log_every=50,
                resume=False, seed=0)
    runs = {"static": {"type": "static"}, "upsampled": {"type": "static", "upsample": up}}
    if args.upweight:
        runs["upweighted"] = {"type": "static", "upsample": up, "mode": "upweight"}
    seeds = [int(x) for x in args.seeds.split(",")]
    load0 = load_now()
    results = {}  # (run, seed) -> train() result
    for seed in seeds:
        for name, sched in runs.items():
            cfg = TrainConfig.model_validate({**base, "seed": seed, "out_dir": str(out / f"{name}-s{seed}"),
                                              "schedule": sched})
            results[name, seed] = train(cfg, quiet=args.quiet)

    from gristmill.trainer_hooks.mixture import load_mixture
    m = load_mixture(mixture)
    names = list(runs)
    first = results["static", seeds[0]]
    missing = sorted(set(m.domains) - set(first["heldout"]))

    def loss(name, seed, d):
        h = results[name, seed]["heldout"]
        return h[d] if d != "mean over domains" else sum(h.values()) / len(h)

    def pm(xs):
        mid = sum(xs) / len(xs)
        return f"{mid:+.3f} ± {(max(xs) - min(xs)) / 2:.3f}"

    rows, diffs = [], {}
    for d in sorted(first["heldout"]) + ["mean over domains"]:
        mark = " (upsampled)" if d == args.domain else ""
        means = [sum(loss(n, s, d) for s in seeds) / len(seeds) for n in names]
        row = [d + mark, f"{m.weights[d]:.3f}" if d in m.weights else ""] + [f"{x:.3f}" for x in means]
        for n in names[1:]:
            per = [loss(n, s, d) - loss("static", s, d) for s in seeds]
            diffs[n, d] = per
            row += [pm(per), " ".join(f"{x:+.3f}" for x in per)]
        rows.append(row)
    headers = ["domain", "natural weight"] + [f"{n} held-out loss (mean)" for n in names]
    for n in names[1:]:
        headers += [f"{n} − static (mean ± half range)", "per seed"]
    speed = ", ".join(f"{n}: {sum(results[n, s]['seconds'] for s in seeds) / len(seeds):.0f} s per run" for n in names)
    note = (f"Tiny GPT ({first['params']:,} params, {args.n_layer} layers, d={args.n_embd}, "
            f"vocab {m.vocab_size}), {args.steps} steps x {args.batch} x {args.block} tokens = "
            f"{args.steps * args.batch * args.block:,} tokens per run, seeds {seeds} (each seed runs every "
            f"schedule with the same init and WSD lr); `{args.domain}` x{args.factor:g} in the last "
            f"{args.last_fraction:.0%} (decay aligned). Device: {first['device']} only. Speed ({speed}) depends on "
            f"the load of the shared machine (load 1/5/15 at the start: {load0}). Held-out: 10% of documents per "
            f"domain, {base['eval_batches']} fixed batches of {args.batch}x{args.block} tokens; domains with no "
            f"held-out window of {args.block + 1} tokens are not listed: {missing or 'none'}.")
    per = diffs["upsampled", args.domain]
    write_claims("upsample", [{
        "measure": f"held-out loss on `{args.domain}`, upsampled x{args.factor:g} at the end − static, "
                   f"{len(seeds)} seeds, {args.steps} steps",
        "gristmill": pm(per), "peer": "static mixture", "ratio": "-",
        "goal": "< 0 on every seed", "met": max(per) < 0, "load": load0,
        "parity": parity(steps="the schedule under test: the domain upsampled at the end vs a static mixture")}])
    cmd = "`.venv/bin/python benchmarks/bench_upsample.py " + " ".join(sys.argv[1:]) + "`"
    publish("upsample", f"### End-of-training upsampling vs static mixture\n\n{cmd}\n\n{note}\n\n"
                        + markdown_table(headers, rows))


if __name__ == "__main__":
    main()
