"""Report sections for what later steps leave in a run: selection/, mixture.json and a training log.

Their formats belong to other parts of gristmill and may grow, so everything here reads defensively:
unknown shapes are shown as plain key/value tables or skipped, never an error that stops the report.
"""
from __future__ import annotations

import json
from html import escape
from pathlib import Path

from ...trainer_hooks.mixture import MixtureError, load_mixture
from ..rundir import RunDir
from . import plots
from .page import table

MAX_SERIES = 12


def _scalars(obj, prefix: str = "", depth: int = 0) -> list[list]:
    """Flatten nested JSON into (key, value) rows of scalars; lists are summarised by length."""
    rows = []
    if isinstance(obj, dict) and depth < 3:
        for k, v in obj.items():
            rows += _scalars(v, f"{prefix}{k}.", depth + 1)
    elif isinstance(obj, list):
        rows.append([prefix.rstrip("."), f"[{len(obj)} items]"])
    else:
        rows.append([prefix.rstrip("."), obj])
    return rows


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def selection_folder(run) -> Path | None:
    """The select stage's selection/ folder (the last finished one), else RUN/selection/ (RunDir.selection)."""
    return RunDir(run.path).selection([s.dir for s in run.done()])


def selection_section(run):
    folder = selection_folder(run)
    if folder is None:
        return None
    parts = []
    if run.has_view("selection"):
        cols = run.columns("selection")
        _, [(n,)] = run.query("SELECT count(*) FROM selection")
        # candidates = what the select stage read (`final` is after selection when a mix follows)
        own = folder.parent != run.path  # a stage's selection/, not `gristmill select`'s RUN/selection/
        stage_in = RunDir(run.path).stats(folder.parent.name).get("in") if own else None
        total = stage_in if isinstance(stage_in, int) else (
            run.query("SELECT count(*) FROM final")[1][0][0] if run.has_view("final") else None)
        share = f" of {total:,} candidate documents ({100 * n / total:.1f}%)" if total else ""
        parts.append(f"<p>{n:,} documents chosen{share}.</p>")
        if "select_weight" in cols:
            _, rows = run.query("SELECT select_weight, count(*) FROM selection GROUP BY 1 ORDER BY 1 LIMIT 25")
            parts.append(plots.hbar([f"weight {r[0]:g}" for r in rows], [r[1] for r in rows],
                                    "chosen documents by weight (how many documents each one stands for)"))
        if "domain" in cols:
            _, rows = run.query("SELECT coalesce(domain, '(null)'), count(*) FROM selection "
                                "GROUP BY 1 ORDER BY 2 DESC LIMIT 25")
            parts.append(plots.hbar([r[0] for r in rows], [r[1] for r in rows], "chosen documents by domain"))
        elif "id" in cols and run.has_view("final") and "domain" in run.columns("final"):
            _, rows = run.query("SELECT coalesce(f.domain, '(null)'), count(*) AS n, count(s.id) AS chosen "
                                "FROM final f LEFT JOIN selection s ON f.id = s.id GROUP BY 1 ORDER BY 2 DESC LIMIT 25")
            parts.append(table(["domain", "candidates", "chosen"], [list(r) for r in rows]))
    for f in sorted(folder.glob("*.json"))[:5]:
        data = _read_json(f)
        if data is None:
            parts.append(f'<p class="note">{escape(f.name)}: not readable JSON, skipped.</p>')
            continue
        parts.append(f"<h3>{escape(f.name)}</h3>" + table(["key", "value"], _scalars(data)[:40]))
    return ("Selection", "".join(parts), "") if parts else None


def mixture_section(run):
    path = RunDir(run.path).mixture
    if not path.exists():
        return None
    try:
        data = load_mixture(path).spec.to_json()  # the one validating reader (trainer_hooks/mixture.py)
    except MixtureError as e:
        return ("Mixture", f'<p class="note">{escape(str(e))}</p>', "")
    domains = data.get("domains") if isinstance(data, dict) else None
    if isinstance(domains, dict) and domains and all(isinstance(v, dict) for v in domains.values()):
        keys = list(dict.fromkeys(k for v in domains.values() for k, x in v.items()
                                  if not isinstance(x, (dict, list))))[:8]
        body = table(["domain"] + keys, [[d] + [v.get(k) for k in keys] for d, v in domains.items()])
    else:
        body = table(["key", "value"], _scalars(data)[:60])
    return ("Mixture", body, "")


def _log_files(run_dir: Path) -> list[Path]:
    found = []
    for pattern in ("*.jsonl", "train/*.jsonl", "train*/**/*.jsonl", "logs/*.jsonl"):
        found += [p for p in run_dir.glob(pattern) if p.is_file() and p not in found]
    return found[:3]


def read_curves(path: Path) -> dict[str, tuple[list[float], list[float]]]:
    """step -> every numeric field with 'loss' in its name (nested dicts give 'loss/web' style names), the
    per-domain losses gristmill's trainer logs under `train` and `heldout` ('heldout.code'), and the domain
    weights it logs under `weights`."""
    series: dict[str, tuple[list, list]] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a run still writing may have a half line at the end
        if not isinstance(rec, dict) or not isinstance(rec.get("step"), (int, float)):
            continue
        flat = {k: v for k, v in _scalars(rec)}
        for k, v in flat.items():
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if number and ("loss" in k or k.startswith(("train.", "heldout.", "weights."))):
                # losses and weights are drawn in charts of their own: each chart has its own cap
                group = k.startswith("weights.")
                if k not in series and sum(s.startswith("weights.") == group for s in series) >= MAX_SERIES:
                    continue
                xs, ys = series.setdefault(k, ([], []))
                xs.append(rec["step"])
                ys.append(v)
    return series


def training_section(run):
    parts = []
    for f in _log_files(run.path):
        series = read_curves(f)
        losses = {k: v for k, v in series.items() if not k.startswith("weights.")}
        weights = {k: v for k, v in series.items() if k.startswith("weights.")}
        if losses:
            parts.append(plots.curves(losses, f"{f.relative_to(run.path)}"))
        if weights:  # a schedule's domain weights per step (a dynamic schedule moves them with the loss)
            parts.append(plots.curves(weights, f"{f.relative_to(run.path)}: domain weights"))
    return ("Training", "".join(parts), "") if parts else None


def rephrase_section(run, examples: int = 4):
    """Synthetic rows of a rephrase stage: counts by style and fate, and rephrases beside their parent chunk."""
    from ..inspection.queries import qident
    stage = next((s for s in run.done() if run.has_view(f"{s.view}_kept")
                  and "parent_id" in run.columns(f"{s.view}_kept")), None)
    if stage is None:
        return None
    kept, rej = qident(f"{stage.view}_kept"), qident(f"{stage.view}_rejected")
    union = f"SELECT style, NULL AS drop_reason FROM {kept} WHERE origin = 'synthetic'"
    if run.has_view(f"{stage.view}_rejected"):
        union += f" UNION ALL SELECT style, drop_reason FROM {rej} WHERE origin = 'synthetic'"
    _, counts = run.query(f"SELECT style, coalesce(drop_reason, 'kept'), count(*) FROM ({union}) "
                          "GROUP BY ALL ORDER BY 1, 3 DESC")
    body = [f"<p>Stage {escape(stage.dir)} added synthetic rows (WRAP rephrases) beside the real ones.</p>",
            table(["style", "fate", "rows"], [list(r) for r in counts])]
    chunk = "substr(p.text, s.chunk_start + 1, s.chunk_end - s.chunk_start)"
    examples_of = [("Examples (kept)", "style", kept, f"ORDER BY hash(s.id) LIMIT {int(examples)}")]
    if run.has_view(f"{stage.view}_rejected"):  # what the checks caught, one example per reason
        examples_of.append(("Examples (rejected)", "drop_reason", rej,
                            "QUALIFY row_number() OVER (PARTITION BY s.drop_reason ORDER BY hash(s.id)) = 1 "
                            "ORDER BY 2"))
    for title, label, src, tail in examples_of:
        _, rows = run.query(f"SELECT s.id, s.{label}, {chunk}, s.text FROM {src} s JOIN {kept} p "
                            f"ON p.id = s.parent_id WHERE s.origin = 'synthetic' {tail}")
        if rows:
            body.append(f"<h3>{title}</h3>" +
                        table(["id", "style" if label == "style" else "reason", "parent chunk", "rephrase"],
                              [[r[0], r[1], (r[2] or "")[:800], (r[3] or "")[:800]] for r in rows]))
    return ("Rephrased (synthetic) rows", "".join(body), "")


def experiment_section(run):
    """`gristmill experiment` leaves RUN/experiment/outcome.json: the arm table and the loss-vs-tokens curves."""
    data = _read_json(run.path / "experiment" / "outcome.json")
    if not isinstance(data, dict) or not isinstance(data.get("arms"), dict):
        return None
    doms = data.get("eval_domains") or []
    fmt = lambda ms: f"{ms[0]:.3f} ± {ms[1]:.3f}"  # noqa: E731
    rows = [[arm, a.get("docs"), a.get("unique_tokens"), a.get("tokens_seen"), fmt(a["overall"])]
            + [fmt(a["domains"][d]) for d in doms]
            + [", ".join(f"{d} {e:.3g}" for d, e in sorted(a.get("epochs_by_domain", {}).items()))]
            for arm, a in data["arms"].items()]
    body = table(["arm", "docs", "unique tokens", "tokens seen", "held-out loss (all)"] + doms
                 + ["epochs per domain"], rows)
    series = {arm: ([x for x, _ in a["curve"]], [y for _, y in a["curve"]]) for arm, a in data["arms"].items()}
    svg = plots.curves(series, "held-out loss (mean over domains and seeds) vs training tokens")
    svg = svg.replace(">step<", ">training tokens<")  # the shared curve plot labels its x axis "step"
    notes = []
    for arm, x in (data.get("tokens_to_reach_raw_final") or {}).items():
        notes.append(f"{escape(arm)}: " + (f"{x:,.0f} tokens" if x is not None else "not reached"))
    extra = f"<p>Tokens to reach raw's final held-out loss: {'; '.join(notes)}.</p>" if notes else ""
    up = data.get("upsample")
    if up:
        extra += (f"<p>Upsampling {escape(up['domain'])} x{up['factor']:g} at the end: held-out loss on it "
                  f"{fmt(up['clean'])} (clean) vs {fmt(up['upsampled'])} (clean+upsample).</p>")
    for arm, why in (data.get("skipped") or {}).items():
        extra += f'<p class="note">{escape(arm)} skipped: {escape(why)}</p>'
    return ("Experiment: does curation pay?", body + svg + extra, "")


def contamination_section(run):
    """decontaminate stages: per benchmark the items found and documents affected, and the most matched items."""
    from ..inspection.queries import contamination_data
    data = contamination_data(run)
    if not data:
        return None
    body = []
    for d in data:
        st = d["stats"]
        body.append(f"<p>{escape(d['stage'])}: action <b>{escape(str(st.get('action')))}</b>, {st.get('ngram')}-grams, "
                    f"{st.get('docs_contaminated', 0):,} of {st.get('in') or 0:,} documents contaminated.</p>")
        rows = [[b, c.get("items"), c.get("items_found"), c.get("docs_affected")]
                for b, c in st["contamination"].items()]
        body.append(plots.hbar([r[0] for r in rows], [r[3] or 0 for r in rows], "documents affected per benchmark"))
        body.append(table(["benchmark", "items", "items found", "documents affected"], rows))
        if d["top_items"]:
            body.append("<h3>Most matched items</h3>" + table(
                ["benchmark", "item", "documents", "e.g. document", "matched chars"],
                [list(r) for r in d["top_items"]]))
    return ("Benchmark contamination", "".join(body), "")
