"""Plots of a training log (kept out of the loop so the loop reads as its steps)."""
from __future__ import annotations

import json
import math
from pathlib import Path


def plot_heldout(log: Path, out: Path) -> None:
    """Held-out loss per domain against step, from log.jsonl; nothing is written before the first eval."""
    _plot_per_domain(log, out, "heldout", "held-out loss")


def plot_weights(log: Path, out: Path) -> None:
    """The mixture weights per domain against step (they move under a dynamic schedule or an upsampling phase)."""
    _plot_per_domain(log, out, "weights", "mixture weight")


def _plot_per_domain(log: Path, out: Path, key: str, ylabel: str) -> None:
    """One line per domain of the {domain: value} field `key` of log.jsonl; nothing is written when no row has it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    recs = [r for r in rows if key in r]
    if not recs:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for dom in recs[-1][key]:
        ax.plot([r["step"] for r in recs], [r[key].get(dom, math.nan) for r in recs], label=dom)
    ax.set_xlabel("step"), ax.set_ylabel(ylabel), ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
