"""Terminal rendering for `gristmill inspect`: tables, bar histograms, truncated text, word diffs."""
from __future__ import annotations

import csv
import difflib
import io
import json
import shutil
import sys

BAR = "█"


def width() -> int:
    return max(60, min(shutil.get_terminal_size((120, 40)).columns, 160))


def num(x: float) -> str:
    """Bin edges and stats readable at a glance: 1,234 rather than 1.234e+03."""
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.3g}"


def cell(v, limit: int = 60) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    s = str(v).replace("\n", "⏎").replace("\t", " ")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def table(headers: list[str], rows: list, limit: int = 60) -> str:
    cells = [[cell(v, limit) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and rows for i in range(len(headers))]
    def line(vals):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()
    out = [line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells]
    return "\n".join(out)


def render(headers: list[str], rows: list, fmt: str, limit: int = 60) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(headers)
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        return json.dumps([dict(zip(headers, r)) for r in rows], indent=1, default=str, ensure_ascii=False)
    return table(headers, rows, limit)


def bars(labels: list[str], counts: list[int], total: int | None = None) -> str:
    """One line per label: label, a bar scaled to the largest count, the count and its share."""
    if not counts:
        return "  (no rows)"
    total = total or sum(counts) or 1
    lw = min(max(len(x) for x in labels), 40)
    room = max(10, width() - lw - 24)
    top = max(counts) or 1
    lines = []
    for lab, c in zip(labels, counts):
        n = round(room * c / top)
        lab = lab if len(lab) <= lw else "…" + lab[-(lw - 1):]  # paths and URLs differ at their ends
        lines.append(f"  {lab:>{lw}} {BAR * n}{' ' * (room - n)} {c:>9,} {100 * c / total:5.1f}%")
    return "\n".join(lines)


def clip(text: str | None, n: int, full_len: int | None = None) -> str:
    """Text cut to n characters, saying how much was left out."""
    text = text or ""
    full = full_len if full_len is not None else len(text)
    if full <= n and len(text) <= n:
        return text
    return text[:n].rstrip() + f" … [+{full - min(n, len(text)):,} more chars]"


def indent(text: str, pad: str = "    ") -> str:
    import textwrap
    out = []
    for para in text.splitlines() or [""]:
        out.extend(textwrap.wrap(para, width() - len(pad), replace_whitespace=False) or [""])
    return "\n".join(pad + ln for ln in out)


def word_diff(base: str, other: str, color: bool | None = None) -> tuple[str, float]:
    """wdiff-style: [-only in base-] {+only in other+}; also the similarity ratio of the word lists."""
    color = sys.stdout.isatty() if color is None else color
    a, b = (base or "").split(), (other or "").split()
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    out = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            out.append(" ".join(a[i1:i2]))
            continue
        if i2 > i1:
            s = " ".join(a[i1:i2])
            out.append(f"\033[31m[-{s}-]\033[0m" if color else f"[-{s}-]")
        if j2 > j1:
            s = " ".join(b[j1:j2])
            out.append(f"\033[32m{{+{s}+}}\033[0m" if color else f"{{+{s}+}}")
    return " ".join(out), sm.ratio()
