"""`gristmill inspect` commands over one stage's rows: reasons, dist, sample, sql."""
from __future__ import annotations

from ..stage import StageError
from .files import sql_str
from .fmt import bars, cell, clip, indent, num, render
from .run import Run

# Columns every run can be asked about even though no stage wrote them.
PSEUDO_COLUMNS = {
    "chars": "length(text)",
    "words": "len(string_split_regex(trim(coalesce(text, '')), '\\s+'))",
    "tokens": "strlen(text) // 4",
}
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
           "UBIGINT", "FLOAT", "DOUBLE", "REAL")


def qident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rows_view(run: Run, stage: str | None, which: str) -> tuple[str, str]:
    """(SQL relation, label) for a stage's kept, rejected or all rows; `rejected` with no stage spans all stages."""
    if which == "rejected" and stage is None:
        if not run.has_view("rejected"):
            raise StageError(f"no finished stage of {run.path} has rejected rows; states: {run.states()}")
        return "rejected", "rejected rows of every finished stage"
    s = run.stage(stage)
    parts = [p for p in (("kept", "rejected") if which == "all" else (which,)) if run.has_view(f"{s.view}_{p}")]
    if not parts:
        raise StageError(f"stage {s.dir} has no {which} rows on disk")
    rel = " UNION ALL BY NAME ".join(f"SELECT * FROM {qident(s.view + '_' + p)}" for p in parts)
    return f"({rel})", f"{s.dir} {which}"


def column_types(run: Run, rel: str) -> dict[str, str]:
    return {r[0]: r[1] for r in run.query(f"DESCRIBE SELECT * FROM {rel}")[1]}


def column_expr(run: Run, rel: str, column: str, label: str) -> tuple[str, str]:
    types = column_types(run, rel)
    if column in types:
        return qident(column), types[column]
    if column in PSEUDO_COLUMNS:
        return PSEUDO_COLUMNS[column], "BIGINT"
    raise StageError(f"unknown column {column!r} in {label}; columns: {', '.join(types)}"
                     f"; computed: {', '.join(PSEUDO_COLUMNS)}")


def _stage_with_column(run: Run, column: str) -> str | None:
    """The last finished stage that has the column (so `dist lang` finds langid's output by itself)."""
    if column in PSEUDO_COLUMNS:
        return None
    for s in reversed(run.done()):
        for part in ("kept", "rejected"):
            v = f"{s.view}_{part}"
            if run.has_view(v) and column in run.columns(v):
                return s.view
    return None


# --- reasons -----------------------------------------------------------------------------------------
def reasons(run: Run, stage: str | None = None, chars: int = 160) -> None:
    rel, label = rows_view(run, stage, "rejected")
    stage_col = "stage" if rel == "rejected" else sql_str(run.stage(stage).view)
    _, rows = run.query(
        f"SELECT {stage_col} AS stage, coalesce(drop_reason, '(none)'), count(*), arg_min(id, id), "
        f"arg_min(left(text, {chars + 1}), id), arg_min(strlen(text), id) "
        f"FROM {rel} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2")
    if not rows:
        print(f"no rejected rows in {label}")
        return
    ins = {s.view: s.stats.get("in") for s in run.done()}
    print(f"drop reasons in {run.name} ({label})")
    for st, reason, n, ex_id, ex_text, ex_len in rows:
        share = f"{100 * n / ins[st]:.1f}% of the stage's input" if ins.get(st) else ""
        print(f"{st:<16} {reason:<32} {n:>9,}  {share}")
        print(f"    e.g. {ex_id}: {clip(ex_text, chars, ex_len)!r}")


# --- dist --------------------------------------------------------------------------------------------
def dist(run: Run, column: str, stage: str | None = None, by: str | None = None, which: str = "kept",
         nbins: int = 20, top: int = 15) -> None:
    stage = stage or _stage_with_column(run, column)
    rel, label = rows_view(run, stage, which)
    expr, typ = column_expr(run, rel, column, label)
    groups = [(None, "TRUE")]
    if by:
        bexpr, _ = column_expr(run, rel, by, label)
        _, g = run.query(f"SELECT CAST({bexpr} AS VARCHAR), count(*) FROM {rel} GROUP BY 1 ORDER BY 2 DESC LIMIT 8")
        groups = [(v, f"{bexpr} IS NULL" if v is None else f"CAST({bexpr} AS VARCHAR) = {sql_str(v)}")
                  for v, _ in g]
    numeric = typ.split("(")[0] in NUMERIC or typ.startswith("DECIMAL")
    print(f"{column} in {label}" + (f", by {by} (top {len(groups)} groups)" if by else ""))
    edges = _edges(run, rel, expr, nbins) if numeric else None
    for value, cond in groups:
        if by:
            print(f"\n{by} = {value if value is not None else '(null)'}")
        if numeric:
            _numeric(run, rel, expr, cond, edges)
        else:
            _categorical(run, rel, expr, cond, top)


def _edges(run: Run, rel: str, expr: str, nbins: int) -> tuple[float, float, int] | None:
    _, [(lo, hi)] = run.query(f"SELECT min({expr}), max({expr}) FROM {rel}")
    if lo is None:
        return None
    return float(lo), float(hi), nbins if hi > lo else 1


def _numeric(run: Run, rel: str, expr: str, cond: str, edges) -> None:
    _, [(n, nulls, mean, p50, p90)] = run.query(
        f"SELECT count({expr}), count(*) - count({expr}), avg({expr}), median({expr}), quantile_cont({expr}, 0.9) "
        f"FROM {rel} WHERE {cond}")
    if not n or edges is None:
        print(f"  no values ({nulls:,} null)")
        return
    print(f"  n={n:,}  mean={num(mean)}  median={num(p50)}  p90={num(p90)}" + (f"  null={nulls:,}" if nulls else ""))
    lo, hi, k = edges
    w = (hi - lo) / k or 1.0
    _, rows = run.query(
        f"SELECT least(CAST(floor(({expr} - {lo!r}) / {w!r}) AS BIGINT), {k - 1}) AS b, count(*) "
        f"FROM {rel} WHERE {cond} AND {expr} IS NOT NULL GROUP BY 1 ORDER BY 1")
    counts = dict(rows)
    labels = [f"[{num(lo + i * w)}, {num(lo + (i + 1) * w)}{']' if i == k - 1 else ')'}" for i in range(k)]
    print(bars(labels, [counts.get(i, 0) for i in range(k)], n))


def _categorical(run: Run, rel: str, expr: str, cond: str, top: int) -> None:
    _, [(total,)] = run.query(f"SELECT count(*) FROM {rel} WHERE {cond}")
    _, rows = run.query(f"SELECT coalesce(CAST({expr} AS VARCHAR), '(null)'), count(*) FROM {rel} "
                        f"WHERE {cond} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {int(top)}")
    labels, counts = [r[0] for r in rows], [r[1] for r in rows]
    rest = total - sum(counts)
    if rest > 0:
        labels.append("(other)")
        counts.append(rest)
    print(bars(labels, counts, total))


# --- sample ------------------------------------------------------------------------------------------
def sample(run: Run, stage: str | None = None, rejected: bool = False, where: str | None = None, n: int = 5,
           seed: int = 0, chars: int = 400) -> None:
    rel, label = rows_view(run, stage, "rejected" if rejected else "kept")
    cols = [c for c in column_types(run, rel) if c != "text"]
    # truncate inside DuckDB so a 64 MB text field never travels into Python
    sql = (f"SELECT {', '.join(qident(c) for c in cols)}, left(text, {int(chars)}) AS _text, "
           f"length(text) AS _len FROM {rel} WHERE {where or 'TRUE'} "
           f"ORDER BY hash(coalesce(id, '') || {int(seed)}), id LIMIT {int(n)}")
    names, rows = run.query(sql)
    print(f"{len(rows)} document(s) from {label}" + (f" where {where}" if where else "") + f" (seed {seed})")
    for r in rows:
        d = dict(zip(names, r))
        print("\n── " + " · ".join(cell(d.get(k), 80) for k in ("id", "source", "url") if d.get(k) is not None))
        signals = [f"{k}={cell(v, 80)}" for k, v in d.items()
                   if k not in ("id", "source", "url", "_text", "_len") and v is not None]
        if signals:
            print(indent("  ".join(signals), "   "))
        print(indent(clip(d["_text"], chars, d["_len"])))


# --- sql ---------------------------------------------------------------------------------------------
def sql(run: Run, query: str, fmt: str = "table", max_rows: int = 200) -> None:
    names, rows = run.user_query(query)
    if not names:
        print("ok")
        return
    shown = rows if fmt != "table" else rows[:max_rows]
    print(render(names, shown, fmt, limit=100))
    if len(shown) < len(rows):
        print(f"({len(rows) - len(shown):,} more rows; use --format csv or json for all of them)")


# --- contamination -----------------------------------------------------------------------------------
def contamination_data(run: Run, top: int = 10) -> list[dict]:
    """Per finished decontaminate stage: its per-benchmark stats (stats.json) and the most matched items
    (from the stage's kept and rejected rows, whatever the action)."""
    out = []
    for s in run.done():
        if "contamination" not in s.stats:
            continue
        parts = [p for p in ("kept", "rejected") if run.has_view(f"{s.view}_{p}")
                 and "decon_matches" in run.columns(f"{s.view}_{p}")]
        items = []
        if parts:
            rel = " UNION ALL ".join(f"SELECT id, drop_reason, decon_matches FROM {qident(s.view + '_' + p)} "
                                     "WHERE decon_matches IS NOT NULL" for p in parts)
            _, items = run.query(
                f"SELECT m.benchmark, m.item, count(DISTINCT id), arg_min(id, id), "
                f"sum(m.\"end\" - m.start) FROM (SELECT id, unnest(decon_matches) AS m FROM ({rel})) "
                f"GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {int(top)}")
        out.append({"stage": s.dir, "stats": s.stats, "top_items": items})
    return out


def contamination(run: Run, top: int = 10) -> None:
    data = contamination_data(run, top)
    if not data:
        raise StageError(f"run {run.path} has no finished decontaminate stage; stages: {run.states()}")
    for d in data:
        st = d["stats"]
        print(f"{d['stage']}: action {st.get('action')}, {st.get('ngram')}-grams, {st.get('index_ngrams', 0):,} "
              f"n-grams indexed ({st.get('ngrams_ignored_frequent', 0):,} ignored as frequent), "
              f"{st.get('docs_contaminated', 0):,} of {st.get('in') or 0:,} documents contaminated")
        rows = [[b, c.get("items"), c.get("items_indexed"), c.get("items_found"), c.get("docs_affected")]
                for b, c in st["contamination"].items()]
        from .fmt import table
        print(table(["benchmark", "items", "indexed", "items found", "documents affected"], rows))
        if d["top_items"]:
            print("most matched items:")
            print(table(["benchmark", "item", "documents", "e.g. document", "matched chars"],
                        [list(r) for r in d["top_items"]]))
