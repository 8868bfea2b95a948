"""Matplotlib figures for the run report, returned as inline SVG strings (no files, no network)."""
from __future__ import annotations

import io

COLORS = {"kept": "#2f7d5b", "rejected": "#c4553a", "line": "#3461a8"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.hashsalt": "gristmill"})
    return plt


def _thousands():
    from matplotlib.ticker import FuncFormatter
    def short(x, _):
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= div:
                return f"{x / div:g}{suffix}"
        return f"{x:g}"
    return FuncFormatter(short)


def to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _plt().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG sits inside HTML


def funnel(stages: list[str], docs_kept: list[int], docs_rej: list[int], tok_kept: list[int],
           tok_rej: list[int]) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(stages) + 1.2), sharey=True)
    y = list(range(len(stages)))[::-1]
    for ax, kept, rej, title in ((axes[0], docs_kept, docs_rej, "documents"),
                                 (axes[1], tok_kept, tok_rej, "~tokens (bytes/4)")):
        ax.barh(y, kept, color=COLORS["kept"], label="kept")
        ax.barh(y, rej, left=kept, color=COLORS["rejected"], label="rejected")
        ax.set_title(title)
        for yi, k, r in zip(y, kept, rej):
            ax.text(k + r, yi, f" {k:,} kept" + (f", {r:,} out" if r else ""), va="center", fontsize=8)
        ax.xaxis.set_major_formatter(_thousands())
        ax.set_xlim(0, 1.35 * max([k + r for k, r in zip(kept, rej)] + [1]))
    axes[0].set_yticks(y, stages)
    axes[0].legend(loc="upper center", bbox_to_anchor=(1.05, -0.12 if len(stages) > 2 else -0.25), ncol=2,
                   fontsize=8, frameon=False)
    return to_svg(fig)


def hbar(labels: list[str], counts: list[int], title: str, color: str = "#3461a8") -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(labels) + 0.9))
    y = list(range(len(labels)))[::-1]
    ax.barh(y, counts, color=color)
    ax.set_yticks(y, [x if len(x) <= 40 else x[:39] + "…" for x in labels])
    ax.set_title(title)
    for yi, c in zip(y, counts):
        ax.text(c, yi, f" {c:,}", va="center", fontsize=8)
    return to_svg(fig)


def histogram(edges: list[float], series: dict[str, list[int]], title: str, xlabel: str) -> str:
    """Pre-binned counts (binned in DuckDB) drawn as overlaid step histograms."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 2.8))
    for name, counts in series.items():
        ax.stairs(counts, edges, fill=True, alpha=0.45, color=COLORS.get(name), label=f"{name} ({sum(counts):,})")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("documents")
    ax.legend(fontsize=8, frameon=False)
    return to_svg(fig)


def cluster_sizes(sizes: list[int], counts: list[int], title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar([str(s) for s in sizes], counts, color=COLORS["rejected"])
    ax.set_title(title)
    ax.set_xlabel("documents in the cluster (kept one included)")
    ax.set_ylabel("clusters")
    if counts and max(counts) / max(1, min(counts)) > 50:
        ax.set_yscale("log")
    return to_svg(fig)


def curves(series: dict[str, tuple[list[float], list[float]]], title: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name, linewidth=1.2)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8, frameon=False)
    return to_svg(fig)
