"""`gristmill inspect RUN accounting`: does every document add up? Per stage, rows in = kept + rejected
counted from the Parquet footers (not from stats.json, which could be stale), and per input file how many
rows the reader produced and where they went (kept to the end, or rejected by which stage)."""
from __future__ import annotations

import pyarrow.parquet as pq

from .files import parquet_files
from .run import Run


def footer_rows(run: Run, folder) -> int:
    return sum(pq.read_metadata(f).num_rows
               for f in parquet_files(folder, lambda m: run.warn(f"warning: skipping {m}")))


def balance(run: Run) -> list[dict]:
    rows, prev_kept = [], None
    for s in run.done():
        kept, rejected = footer_rows(run, s.kept), footer_rows(run, s.rejected)
        added = int(s.stats.get("added") or 0)  # rows the stage wrote itself (rephrase's synthetic rows)
        n_in = kept + rejected - added if prev_kept is None else prev_kept
        rows.append({"stage": s.dir, "in": n_in, "added": added, "kept": kept, "rejected": rejected,
                     "ok": n_in + added == kept + rejected, "recorded_in": s.stats.get("in")})
        prev_kept = kept
    return rows


def per_file(run: Run) -> list[tuple]:
    """(input file, rows read, kept at the end, rejected by the read stage, rejected later)."""
    done = run.done()
    if not done or not run.has_view(f"{done[0].view}_kept"):
        return []
    read = done[0].view
    parts = [f'SELECT src_file, id, 0 AS rej_read FROM "{read}_kept"']
    if run.has_view(f"{read}_rejected"):
        parts.append(f'SELECT src_file, id, 1 FROM "{read}_rejected"')
    final = f'SELECT id, 1 AS fin FROM "{done[-1].view}_kept"' if run.has_view(f"{done[-1].view}_kept") else None
    sql = (f"WITH r AS ({' UNION ALL '.join(parts)}) SELECT r.src_file, count(*), "
           f"count(f.fin), sum(r.rej_read), count(*) - count(f.fin) - sum(r.rej_read) FROM r "
           + (f"LEFT JOIN ({final}) f ON r.id = f.id AND r.rej_read = 0 " if final
              else "CROSS JOIN (SELECT NULL AS fin) f ")
           + "GROUP BY 1 ORDER BY 1")
    return run.query(sql)[1]


def print_accounting(run_dir) -> bool:
    run = Run(run_dir)
    rows = balance(run)
    print(f"run {run.name}: rows in (+ rows a stage added) = kept + rejected, from the Parquet footers")
    print(f"{'stage':<20}{'in':>12}{'added':>10}{'kept':>12}{'rejected':>12}  balance")
    for r in rows:
        note = "ok" if r["ok"] else f"OFF BY {r['kept'] + r['rejected'] - r['in'] - r['added']:+,}"
        if r["recorded_in"] is not None and r["recorded_in"] != r["in"]:
            note += f" (stats.json says in={r['recorded_in']:,})"
        print(f"{r['stage']:<20}{r['in']:>12,}{r['added']:>10,}{r['kept']:>12,}{r['rejected']:>12,}  {note}")
    if rows:
        total_rej = sum(r["rejected"] for r in rows)
        total_add = sum(r["added"] for r in rows)
        first, last = rows[0], rows[-1]
        read_all = first["kept"] + first["rejected"]
        print(f"documents read {read_all:,}" + (f" + added {total_add:,}" if total_add else "")
              + f" = kept at the end {last['kept']:,} + rejected somewhere {total_rej:,}"
              + ("" if read_all + total_add == last["kept"] + total_rej else "  <- DOES NOT ADD UP"))
    files = per_file(run)
    if files:
        print(f"\n{'input file':<60}{'rows':>10}{'kept':>10}{'rej read':>10}{'rej later':>10}")
        for f, n, kept, rej_read, rej_later in files:
            name = f if len(f or "") <= 58 else "..." + f[-55:]
            print(f"{name or '(none)':<60}{n:>10,}{kept:>10,}{rej_read:>10,}{rej_later:>10,}")
    for s in run.not_done():
        print(f"note: {s.dir} is {s.status}; not counted")
    return all(r["ok"] for r in rows)
