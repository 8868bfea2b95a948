"""`gristmill report`: one self-contained HTML page about a run, built from the same DuckDB views as inspect.

Sections appear only when the run has what they need (a `lang` column, a dedup stage, selection/, a
training log), so the report works on a quickstart run, a full pipeline, or a run that crashed halfway.
"""
from __future__ import annotations

import json
import time
from html import escape
from pathlib import Path

from ..inspection.queries import _stage_with_column, qident
from ..inspection.run import TOKEN_LABEL, Run, stage_rows
from . import plots
from .extras import experiment_section, mixture_section, rephrase_section, selection_section, training_section
from .page import page, table


def build_report(run_dir: str | Path, out: str | Path) -> Path:
    from .extras import contamination_section
    run = Run(run_dir)
    sections = [s for s in (_state(run), _funnel(run), _reasons(run), _category(run, "lang", "Languages"),
                            _category(run, "domain", "Domains"), _quality(run), _clusters(run),
                            contamination_section(run), rephrase_section(run),
                            selection_section(run), mixture_section(run), training_section(run),
                            experiment_section(run), _config(run))
                if s]
    subtitle = (f"{run.path} · created {run.manifest.get('created', '?')} · updated "
                f"{run.manifest.get('updated', '?')} · report written {time.strftime('%Y-%m-%d %H:%M')}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page(f"gristmill run: {run.name}", subtitle, sections), encoding="utf-8")
    tmp.replace(out)
    return out


def _state(run: Run):
    missing = run.not_done()
    if not missing:
        return None
    rows = [[s.dir, s.status] for s in missing]
    return ("Unfinished stages", "<p>These stages have no finished output; the figures below cover the finished "
            "stages only.</p>" + table(["stage", "state"], rows), "warn")


def _funnel(run: Run):
    rows = [r for r in stage_rows(run) if r["status"] == "done"]
    if not rows:
        return None
    svg = plots.funnel([r["stage"] for r in rows], [r["kept"] or 0 for r in rows], [r["rejected"] or 0 for r in rows],
                       [r["tokens_kept"] or 0 for r in rows], [r["tokens_rejected"] or 0 for r in rows])
    body = table(["stage", "docs in", "kept", "rejected", "tokens in", "tokens kept", "tokens rejected", "seconds"],
                 [[r["stage"], r["in"], r["kept"], r["rejected"], r["tokens_in"], r["tokens_kept"],
                   r["tokens_rejected"], r["seconds"]] for r in rows])
    return ("Funnel", svg + body + f'<p class="note">tokens = {escape(TOKEN_LABEL)}, an estimate.</p>', "")


def _reasons(run: Run):
    if not run.has_view("rejected"):
        return None
    _, rows = run.query("SELECT stage, coalesce(drop_reason, '(none)'), count(*), arg_min(id, id), "
                        "arg_min(left(text, 120), id) FROM rejected GROUP BY 1, 2 ORDER BY 3 DESC")
    if not rows:
        return None
    top = rows[:20]
    svg = plots.hbar([f"{r[1]} ({r[0]})" for r in top], [r[2] for r in top], "rejected documents by reason",
                     plots.COLORS["rejected"])
    return ("Drop reasons", svg + table(["stage", "reason", "documents", "example id", "example text"],
                                        [list(r) for r in rows]), "")


def _category(run: Run, column: str, title: str):
    view = _stage_with_column(run, column)
    if view is None or not run.has_view(f"{view}_kept") or column not in run.columns(f"{view}_kept"):
        return None
    c = qident(column)
    _, rows = run.query(f"SELECT coalesce(CAST({c} AS VARCHAR), '(null)'), count(*) FROM {qident(view + '_kept')} "
                        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 25")
    if not rows:
        return None
    svg = plots.hbar([r[0] for r in rows], [r[1] for r in rows], f"{column} of kept documents after {view}")
    return (title, svg, "")


def _quality(run: Run):
    view = _stage_with_column(run, "quality_score")
    if view is None:
        return None
    parts = {p: f"{view}_{p}" for p in ("kept", "rejected")
             if run.has_view(f"{view}_{p}") and "quality_score" in run.columns(f"{view}_{p}")}
    rel = " UNION ALL ".join(f"SELECT quality_score FROM {qident(v)}" for v in parts.values())
    _, [(lo, hi)] = run.query(f"SELECT min(quality_score), max(quality_score) FROM ({rel})")
    if lo is None:
        return None
    k = 40 if hi > lo else 1
    w = (hi - lo) / k or 1.0
    series = {}
    for p, v in parts.items():
        _, rows = run.query(f"SELECT least(CAST(floor((quality_score - {lo!r}) / {w!r}) AS BIGINT), {k - 1}), count(*) "
                            f"FROM {qident(v)} WHERE quality_score IS NOT NULL GROUP BY 1")
        got = dict(rows)
        series[p] = [got.get(i, 0) for i in range(k)]
    edges = [lo + i * w for i in range(k + 1)]
    return ("Quality scores", plots.histogram(edges, series, f"quality_score at {view}", "quality_score"), "")


def _clusters(run: Run):
    out = []
    for s in run.done():
        for col, sql in (("duplicate_of", f"SELECT duplicate_of, count(*) + 1 AS n FROM {qident(s.view + '_rejected')} "
                                          "WHERE duplicate_of IS NOT NULL GROUP BY 1"),
                         ("minhash_cluster", f"SELECT minhash_cluster, count(*) AS n FROM "
                                             f"(SELECT minhash_cluster FROM {qident(s.view + '_kept')} "
                                             "UNION ALL BY NAME "
                                             f"SELECT minhash_cluster FROM {qident(s.view + '_rejected')}) "
                                             "WHERE minhash_cluster IS NOT NULL GROUP BY 1")):
            if not all(run.has_view(f"{s.view}_{p}") and col in run.columns(f"{s.view}_{p}")
                       for p in (("rejected",) if col == "duplicate_of" else ("kept", "rejected"))):
                continue
            _, rows = run.query(f"SELECT n, count(*) FROM ({sql}) WHERE n > 1 GROUP BY 1 ORDER BY 1")
            if rows:
                out.append(plots.cluster_sizes([r[0] for r in rows], [r[1] for r in rows],
                                               f"{s.dir}: duplicate clusters by size ({col})"))
                break
    return ("Duplicate clusters", "".join(out), "") if out else None


def _config(run: Run):
    cfg = json.dumps(run.manifest.get("config"), indent=2, default=str)
    versions = run.manifest.get("versions") or {}
    return ("Config and versions", f"<pre>{escape(cfg)}</pre>" +
            table(["package", "version"], [[k, str(v)] for k, v in versions.items()]), "")
