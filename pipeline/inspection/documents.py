"""`gristmill inspect` commands that follow documents: show (one journey), dups (a cluster), diff (two runs)."""
from __future__ import annotations

from ..stage import StageError
from .fmt import cell, clip, indent, table, word_diff
from .queries import qident
from .run import Run

CLUSTER_COLUMNS = ("duplicate_of", "minhash_cluster")


def _row(run: Run, view: str, doc_id: str) -> dict | None:
    if not run.has_view(view):
        return None
    names, rows = run.query(f"SELECT * FROM {qident(view)} WHERE id = ? LIMIT 1", [doc_id])
    return dict(zip(names, rows[0])) if rows else None


def _not_found(run: Run, doc_id: str, what: str = "document") -> StageError:
    first = run.done()[0] if run.done() else None
    hint = ""
    if first and run.has_view(f"{first.view}_kept"):
        _, near = run.query(f"SELECT id FROM {qident(first.view + '_kept')} WHERE id LIKE ? ORDER BY id LIMIT 5",
                            [doc_id[: max(3, len(doc_id) // 2)] + "%"])
        if near:
            hint = "; ids starting alike: " + ", ".join(r[0] for r in near)
        else:
            _, ex = run.query(f"SELECT id FROM {qident(first.view + '_kept')} ORDER BY id LIMIT 3")
            hint = "; ids look like: " + ", ".join(r[0] for r in ex)
    return StageError(f"{what} {doc_id!r} is not in run {run.path}{hint}")


# --- show --------------------------------------------------------------------------------------------
def show(run: Run, doc_id: str, chars: int = 300) -> None:
    prev: dict | None = None
    first = None
    for s in run.done():
        kept, rej = _row(run, f"{s.view}_kept", doc_id), _row(run, f"{s.view}_rejected", doc_id)
        row = kept or rej
        if row is None:
            if prev is None:
                continue
            print(f"[{s.dir}] not present (the document was rewritten or the stage dropped it without a reason)")
            return
        if first is None:
            first = row
            print(f"document {doc_id}  source={cell(row.get('source'))}  url={cell(row.get('url'), 100)}")
            if row.get("origin") == "synthetic" and row.get("parent_id"):
                _beside_parent(run, s, row, chars)
            else:
                print(indent(clip(row.get("text"), chars)))
        changes = _changes(prev, row)
        state = "kept" if kept else f"REJECTED: {row.get('drop_reason')}"
        print(f"[{s.dir}] {state}" + (f"  {changes}" if changes else ""))
        if rej:
            if row.get("duplicate_of"):
                print(f"    duplicate of {row['duplicate_of']} (see: inspect {run.path} dups {doc_id})")
            print(f"    left the pipeline at {s.dir}")
            return
        prev = row
    if first is None:
        raise _not_found(run, doc_id)
    print("kept through the last finished stage" +
          ("" if not run.not_done() else f" ({', '.join(x.dir for x in run.not_done())} not finished)"))
    _selection(run, doc_id)


def _beside_parent(run: Run, s, row: dict, chars: int) -> None:
    """A rephrase (rephrase stage) in two columns beside the chunk of its parent it was made from."""
    import textwrap

    from .fmt import width
    parent = _row(run, f"{s.view}_kept", row["parent_id"]) or _row(run, f"{s.view}_rejected", row["parent_id"])
    a, b = row.get("chunk_start"), row.get("chunk_end")
    chunk = (parent or {}).get("text") or ""
    chunk = chunk[a:b] if a is not None and b is not None else chunk
    print(f"synthetic: style {row.get('style')} of {row['parent_id']} chunk {row.get('chunk_index')} "
          f"(chars {a}-{b}), model {row.get('model')}, {row.get('tokens_in')} tokens in, "
          f"{row.get('tokens_out')} out, finish {row.get('finish_reason')}")
    w = max(30, (width() - 7) // 2)
    left = textwrap.wrap(clip(chunk, chars), w) if parent else ["(parent not found in this stage)"]
    right = textwrap.wrap(clip(row.get("text"), chars), w)
    print(f"    {'parent chunk':<{w}} | rephrase")
    for i in range(max(len(left), len(right))):
        print(f"    {left[i] if i < len(left) else '':<{w}} | {right[i] if i < len(right) else ''}")


def _changes(prev: dict | None, row: dict) -> str:
    """Signals a stage added or changed; text only as a length change (it is printed once above)."""
    out = []
    for k, v in row.items():
        if k in ("id", "drop_reason", "source", "url") or (prev is None and k == "text"):
            continue
        if prev is not None and k in prev and prev[k] == v:
            continue
        if k == "text":
            out.append(f"text changed ({len(prev.get('text') or ''):,} -> {len(v or ''):,} chars)")
        elif v is not None or (prev and prev.get(k) is not None):
            out.append(f"{k}={cell(v, 80)}")
    return "  ".join(out)


def _selection(run: Run, doc_id: str) -> None:
    if not run.has_view("selection") or "id" not in run.columns("selection"):
        return
    row = _row(run, "selection", doc_id)
    weight = row.get("select_weight", row.get("weight")) if row else None
    rank = f", rank {row['select_rank']}" if row and "select_rank" in row else ""
    print("selection: " + ("chosen" + (f" (weight {weight}{rank})" if weight is not None else "")
                           if row else "not chosen"))


# --- dups --------------------------------------------------------------------------------------------
def dups(run: Run, key: str, chars: int = 600, limit: int = 20) -> None:
    stages = [s for s in run.done() if any(c in _cols(run, s) for c in CLUSTER_COLUMNS)]
    if not stages:
        raise StageError(f"run {run.path} has no finished dedup stage (no {' or '.join(CLUSTER_COLUMNS)} column); "
                         f"stages: {run.states()}")
    for s in stages:
        members = _members(run, s, key)
        if members:
            _print_cluster(run, s, members, chars, limit)
            return
    views = ", ".join(f"{s.view}_rejected" for s in stages)
    raise StageError(f"{key!r} is neither a document id in a duplicate cluster nor a cluster id in {views}; "
                     f"list clusters with: gristmill inspect {run.path} sql \"SELECT duplicate_of, count(*) AS n "
                     f"FROM {stages[0].view}_rejected GROUP BY 1 ORDER BY n DESC LIMIT 10\"")


def _cols(run: Run, s) -> set[str]:
    return {c for p in ("kept", "rejected") if run.has_view(f"{s.view}_{p}") for c in run.columns(f"{s.view}_{p}")}


def _members(run: Run, s, key: str) -> list[dict]:
    """Rows of the cluster that `key` names (a cluster id, the kept id, or any member's id), kept one first."""
    cols = _cols(run, s)
    rep, cluster = key, None
    if "minhash_cluster" in cols:
        cluster = key
        row = _row(run, f"{s.view}_kept", key) or _row(run, f"{s.view}_rejected", key)
        if row and row.get("minhash_cluster") is not None:
            cluster = row["minhash_cluster"]
    if "duplicate_of" in cols:
        row = _row(run, f"{s.view}_rejected", key)
        if row and row.get("duplicate_of"):
            rep = row["duplicate_of"]
    if "text_hash" in cols and run.has_view(f"{s.view}_kept"):  # dedup_exact's cluster key
        _, hit = run.query(f"SELECT id FROM {qident(s.view + '_kept')} WHERE text_hash = ? LIMIT 1", [key])
        rep = hit[0][0] if hit else rep
    out = []
    for part in ("kept", "rejected"):
        v = f"{s.view}_{part}"
        if not run.has_view(v):
            continue
        have = set(run.columns(v))
        conds, params = ["id = ?"], [rep]
        if "duplicate_of" in have:
            conds.append("duplicate_of = ?")
            params.append(rep)
        if cluster is not None and "minhash_cluster" in have:
            conds.append("minhash_cluster = ?")
            params.append(cluster)
        names, rows = run.query(f"SELECT * FROM {qident(v)} WHERE {' OR '.join(conds)} ORDER BY id", params)
        out += [dict(zip(names, r), _part=part) for r in rows]
    # a lone row is not a cluster
    return out if len(out) > 1 else []


def _print_cluster(run: Run, s, members: list[dict], chars: int, limit: int) -> None:
    kept = next((m for m in members if m["_part"] == "kept"), members[0])
    others = [m for m in members if m is not kept]
    label = kept.get("minhash_cluster") or kept.get("id")
    print(f"cluster {label} in {s.dir}: {len(members)} documents, kept {kept.get('id')}")
    rows = []
    diffs = []
    for m in [kept] + others[:limit]:
        d, ratio = word_diff(kept.get("text"), m.get("text")) if m is not kept else ("", 1.0)
        rows.append(["kept" if m is kept else (m.get("drop_reason") or m["_part"]), m.get("id"), m.get("source"),
                     len(m.get("text") or ""), round(ratio, 3), m.get("url")])
        if m is not kept:
            diffs.append((m, d, ratio))
    print(table(["role", "id", "source", "chars", "similarity", "url"], rows))
    print(f"\nkept {kept.get('id')}:")
    print(indent(clip(kept.get("text"), chars)))
    for m, d, ratio in diffs:
        print(f"\n{m.get('id')} vs kept (similarity {ratio:.3f}; [-only in kept-] {{+only here+}}):")
        same = (kept.get("text") or "").casefold().split() == (m.get("text") or "").casefold().split()
        print(indent("(same words; differs only in case or spacing)" if same else clip(d, chars)))
    if len(others) > limit:
        print(f"\n({len(others) - limit} more members; raise --limit)")


# --- diff --------------------------------------------------------------------------------------------
def diff(run_a: Run, run_b: Run, examples: int = 3) -> None:
    from .views import register_views
    con = run_a.con
    register_views(con, run_b, prefix="b__")
    fate = ("SELECT id, stage AS fate, drop_reason AS reason FROM {p}rejected "
            "UNION ALL SELECT id, '(kept)' AS fate, NULL AS reason FROM {p}final")
    parts = {}
    for p, run in (("", run_a), ("b__", run_b)):
        have = {v for v in run_a.views() if v.startswith(p)} if p else set(run_a.views())
        if f"{p}final" not in have:
            raise StageError(f"run {run.path} has no finished stage to compare; states: {run.states()}")
        sql = (fate.format(p=p) if f"{p}rejected" in have
               else f"SELECT id, '(kept)' AS fate, NULL AS reason FROM {p}final")
        parts[p or "a"] = sql
    names, rows = run_a.query(
        f"WITH a AS ({parts['a']}), b AS ({parts['b__']}) "
        "SELECT coalesce(a.fate, '(absent)') AS fa, a.reason AS ra, coalesce(b.fate, '(absent)') AS fb, "
        f"b.reason AS rb, count(*) AS n, list(coalesce(a.id, b.id) ORDER BY coalesce(a.id, b.id))[1:{int(examples)}] "
        "FROM a FULL OUTER JOIN b ON a.id = b.id GROUP BY ALL ORDER BY n DESC, fa, fb")
    print(f"A = {run_a.name} ({run_a.path})\nB = {run_b.name} ({run_b.path})")
    for run in (run_a, run_b):
        if run.not_done():
            print(f"note: {run.name} is unfinished ({run.states()}); its last finished stage counts as kept")
    same = sum(r[4] for r in rows if (r[0], r[1]) == (r[2], r[3]))
    print(f"same outcome in both: {same:,} documents")
    changed = [r for r in rows if (r[0], r[1]) != (r[2], r[3])]
    if not changed:
        print("no document has a different outcome")
        return
    out = [[_fate(fa, ra), _fate(fb, rb), n, ", ".join(ex)] for fa, ra, fb, rb, n, ex in changed]
    print(table(["in A", "in B", "documents", "examples"], out, limit=80))


def _fate(stage: str, reason: str | None) -> str:
    if stage in ("(kept)", "(absent)"):
        return stage[1:-1]
    return f"dropped by {stage} ({reason})"
