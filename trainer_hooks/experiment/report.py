"""The outcome as a reader sees it: outcome.md (tables) and outcome.png (loss vs tokens)."""
from __future__ import annotations

from pathlib import Path

from .config import ABLATE_PREFIX


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
    out = ["\n".join(lines), "", "(held-out loss above: the corpus's own held-out split, a secondary row; an arm "
           "that drops a domain is judged there on text it chose not to learn.)", ""]
    if outcome.get("targets"):
        out += [_target_table(outcome), ""]
    if outcome.get("ablation"):
        out += [_ablation_table(outcome), ""]
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
               f"{t['block_size']} tokens, lr {t['lr']} WSD. Device {mach['device']}, {mach['cpus']} CPUs, "
               f"load average at the end {mach['loadavg']} (1/5/15 min, runnable/all, last pid); "
               f"{outcome.get('seconds', '?')} s.")
    return "\n".join(out)


def _domain_table(outcome: dict) -> str:
    """Training tokens per domain in every arm, and the clean stages' main reasons for dropping from each."""
    arms = outcome["arms"]
    doms = sorted(set().union(*(a["unique_tokens_by_domain"] for a in arms.values())))
    names = [a for a in arms if a != "clean+upsample" and not a.startswith(ABLATE_PREFIX)]  # upsample: clean's data
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
        if arm.startswith(ABLATE_PREFIX):
            continue
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



def _reach(r: dict, tokens: int) -> str:
    if not r["reached"]:
        return f"not reached (0/{r['seeds']})"
    return (f"{r['mean']:,.0f} ± {r['sd']:,.0f} [{r['min']:,.0f}–{r['max']:,.0f}] "
            f"({r['mean'] / tokens:.2f} of the run; {r['reached']}/{r['seeds']} seeds)")


def _target_table(outcome: dict) -> str:
    """The headline: per target set (held out of every arm's pool), each arm's final loss and the training tokens
    it needed to reach raw's final loss on that target."""
    arms, targets, tokens = outcome["arms"], outcome["targets"], outcome["train_tokens"]
    names = sorted(targets)
    lines = ["Target sets (no arm trains on them). Tokens to reach raw's final loss on each, read off each seed's "
             "curve: mean ± sd [min–max] over the seeds that reached it; loss: mean ± sd over seeds.", "",
             "| arm | " + " | ".join(f"{n}: loss | {n}: tokens to raw's loss" for n in names) + " |",
             "|---" * (1 + 2 * len(names)) + "|"]
    for arm, a in arms.items():
        if arm.startswith(ABLATE_PREFIX):
            continue
        cells = [f"{_fmt(a['targets'][n])} | {_reach(targets[n]['arms'][arm], tokens)}" for n in names]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ablation_table(outcome: dict) -> str:
    ab = outcome["ablation"]
    # the target names from the deltas themselves: outcome["targets"] (tokens to raw's loss) is empty without raw
    targets = sorted(next(iter(ab.values()))["targets"])
    lines = ["Leave one stage out (--ablate): loss of clean without the stage minus clean's (positive: the stage "
             "helped), ± its standard error over seeds.", "",
             "| stage left out | docs (clean's) | corpus held-out | " + " | ".join(targets) + " |",
             "|---" * (3 + len(targets)) + "|"]
    for stage, r in ab.items():
        cells = [f"{r['targets'][n][0]:+.3f} ± {r['targets'][n][1]:.3f}" for n in targets]
        corpus = f"{r['corpus'][0]:+.3f} ± {r['corpus'][1]:.3f}"
        lines.append(f"| {stage} | {r['docs']:,} ({r['clean_docs']:,}) | {corpus} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
