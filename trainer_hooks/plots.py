"""Plots of a training log (kept out of the loop so the loop reads as its steps)."""
from __future__ import annotations

import json
import math
from pathlib import Path


def plot_heldout(log: Path, out: Path) -> None:
    """Held-out loss per domain against step, from log.jsonl; nothing is written before the first eval."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    evals = [r for r in rows if "heldout" in r]
    if not evals:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for dom in evals[-1]["heldout"]:
        ax.plot([r["step"] for r in evals], [r["heldout"].get(dom, math.nan) for r in evals], label=dom)
    ax.set_xlabel("step"), ax.set_ylabel("held-out loss"), ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_weights(log: Path, out: Path) -> None:
    """The mixture weights per domain against step (they move under a dynamic schedule or an upsampling phase)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(ln) for ln in log.read_text().splitlines() if ln.strip()]
    recs = [r for r in rows if "weights" in r]
    if not recs:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for dom in recs[-1]["weights"]:
        ax.plot([r["step"] for r in recs], [r["weights"].get(dom, math.nan) for r in recs], label=dom)
    ax.set_xlabel("step"), ax.set_ylabel("mixture weight"), ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
