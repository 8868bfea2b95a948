"""Run every benchmark and write benchmarks/results/SUMMARY.md (--full: SUMMARY-full.md): one line per claim
(measure, gristmill, peer, ratio, goal, met?) with the machine, its load and the date.

    .venv/bin/python benchmarks/run_all.py --quick    # small sizes, about 15 minutes on 2 idle cores
    .venv/bin/python benchmarks/run_all.py --full     # the issue's sizes (100k/1M documents, 100k passages): hours

The summary holds the claims of one code version only (the commit, plus a hash of uncommitted changes):
claims measured at another version (carried by --only/--max-n, or written before a commit) are listed
apart as stale, never in the table. Each row's "like for like?" column is computed from the claim's
`parity` field (input bytes, tokenizer, normalization, steps: "same" or how they differ).

Each benchmark runs in its own process (its own Spark JVM, so one's cold start or memory cannot leak into
another's figures) under a time limit; a benchmark that fails or runs out of time gets a line saying so. A
benchmark's claims count only if its claims file was written during this run. bench_rephrase.py and
bench_extract.py are run when they exist (other engineers write them).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, code_state, load_now, markdown_table  # noqa: E402
from tried import shortfall, tried  # noqa: E402

HERE = Path(__file__).resolve().parent

# (script, claims files it writes, quick args, full args, quick time limit s); selectors last, so a
# passage embedding started in the background has the longest to finish
PLAN = [
    # quick: as many of the first 100k passages as have cached MiniLM vectors (passages.py --n 100000 makes them)
    ("bench_selectors.py", ["selectors"], ["--n", "100000", "--skip-semdedup", "--cached-only"], ["--n", "100000"],
     1500),
    ("bench_langid.py", ["bench_langid"], ["--n", "5000", "--peer-n", "1000"], ["--n", "100000", "--peer-n", "10000"],
     600),
    # --extras (gristmill's verified default) adds a run: run it by hand
    # distinct documents (corpora.py), median of 3 per row; datatrove as shipped (spaCy) one run, not at 1M
    ("bench_minhash.py", ["bench_minhash_{n}"], ["--n", "5000", "--warm"], ["--n", "100000", "--warm"], 1500),
    ("bench_quality.py", ["bench_quality"], ["--n", "5000", "--peer-n", "700"], ["--n", "100000", "--peer-n", "2000"],
     900),
    ("eval_dedup.py", ["eval_dedup"], ["--copies", "2", "--skip-bib", "--no-extras"], [], 900),
    ("bench_exact_dedup.py", ["exact_dedup_{n}"], ["--n", "20000"], ["--n", "100000"], 900),
    ("bench_upsample.py", ["upsample"], ["--steps", "200", "--seeds", "0,1,2", "--quiet"],
     ["--steps", "1500", "--seeds", "0,1,2", "--quiet", "--upweight"], 900),
    # the 1M rows last: hours of datatrove at 1M, so a --minutes limit cuts these, not the 100k rows
    ("bench_minhash.py", ["bench_minhash_{n}"], None, ["--n", "1000000", "--no-shipped"], 0),
    ("bench_exact_dedup.py", ["exact_dedup_{n}"], None, ["--n", "1000000"], 0),
    ("bench_select_driver.py", ["select_driver"], ["--n", "100000"], ["--n", "100000", "--n", "1000000"], 900),
    ("bench_read.py", ["bench_read"], ["--small", "5000", "--jsonl-mb", "100"],
     ["--small", "20000", "--jsonl-mb", "1000"], 600),
    ("bench_rephrase.py", ["rephrase"], [], [], 600),
    ("bench_extract.py", ["bench_extract"], [], [], 600),
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil
        mem = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        mem = ""
    gpu = "no GPU"
    try:
        import torch
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {gpu}, Python {platform.python_version()}"


def fmt(v) -> str:
    if v is True:
        return "yes"
    if v is False:
        return "**no**"
    if v is None:
        return "-"
    return str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated script names to run (default: all)")
    ap.add_argument("--max-n", type=int, default=None,
                    help="skip the entries with more documents than this (e.g. 100000: the 1M rows, which take "
                         "datatrove hours); their last claims are carried like --only's")
    ap.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every quick time limit")
    ap.add_argument("--minutes", type=float, default=None,
                    help="overall limit: no benchmark starts (and a running one is stopped) past it; the summary "
                         "lists what was skipped")
    args = ap.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    started = time.time()
    load_start = load_now()
    state = code_state()
    lines, failures, carried = [], [], set()
    stale: list[list] = []
    stop = started + args.minutes * 60 if args.minutes else None
    # a benchmark's claims file holds its latest run, quick or full; each mode carries only its own runs' claims
    run_mode = "quick" if args.quick else "full"
    kept = RESULTS / f"claims-{run_mode}"
    for script, names, quick, full, limit in PLAN:
        argv = quick if args.quick else full
        if argv is None:
            continue
        n = argv[argv.index("--n") + 1] if "--n" in argv else ""
        if (only and script not in only) or (args.max_n and n and int(n) > args.max_n):
            # skipped by --only: its last claims of this mode stay in the summary, dated, so one table covers all
            for name in names:
                path = kept / f"{name.format(n=n)}.claims.json"
                if path.exists() and path not in carried:
                    carried.add(path)
                    lines += claim_rows(path, name, "earlier", state["version"], stale)
                elif not path.exists():
                    failures.append([f"{script} {' '.join(argv)}", f"not run (--only/--max-n) and no earlier "
                                                                   f"{run_mode} claims in {kept.name}/"])
            continue
        if not (HERE / script).exists():
            failures.append([script, "not present in this checkout"])
            continue
        t0 = time.time()
        timeout = limit * args.timeout_scale if args.quick else None
        if stop is not None:
            if stop - t0 < 60:
                failures.append([f"{script} {' '.join(argv)}", f"skipped: the --minutes {args.minutes:g} limit was "
                                                                "reached"])
                continue
            timeout = min(timeout or stop - t0, stop - t0)
        cmd = [sys.executable, str(HERE / script), *argv]
        print(f"[run_all] {' '.join(cmd[1:])} (load {load_now()})", file=sys.stderr, flush=True)
        # its own session, so a timeout stops the whole tree (Spark's JVM, datatrove's workers), not just it
        proc = subprocess.Popen(cmd, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            rc, tail = proc.returncode, (err or out)[-600:]
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            rc, tail = "timeout", f"ran past its limit of {timeout:.0f} s"
        secs = time.time() - t0
        if rc != 0:
            failures.append([f"{script} {' '.join(argv)}", f"exit {rc} after {secs:.0f} s: "
                             + " ".join(tail.split())[-300:].replace("|", "/")])
        for name in names:
            path = RESULTS / f"{name.format(n=n)}.claims.json"
            if not path.exists() or path.stat().st_mtime < t0:
                if rc == 0:
                    failures.append([script, f"wrote no claims file {path.name}"])
                continue
            lines += claim_rows(path, name, "this run", state["version"], stale)
            kept.mkdir(exist_ok=True)
            shutil.copyfile(path, kept / path.name)  # what a later --only run of this mode carries
        print(f"[run_all] {script}: exit {rc} in {secs:.0f} s", file=sys.stderr, flush=True)
        write_summary(args, started, load_start, lines, failures, state, stale, final=False)
    print(write_summary(args, started, load_start, lines, failures, state, stale, final=True))
    return 0


def like_for_like(claim: dict) -> str:
    """The "like for like?" cell from a claim's `parity` field: yes, how it differs, or '-' without a peer."""
    par = claim.get("parity")
    if par is None:
        has_peer = claim.get("peer") not in (None, "-", "")
        return "not recorded" if has_peer else "-"
    differs = [f"{k}: {v}" for k, v in par.items() if v not in ("same", "same bytes")]
    return "yes" if not differs else "no: " + "; ".join(differs).replace("|", "/")


def claim_rows(path: Path, name: str, run: str, version: str, stale: list) -> list[list]:
    """Table rows of a claims file measured at `version`; claims of another version go to `stale`."""
    rows = []
    for c in json.loads(path.read_text()):
        when = run if run == "this run" else f"{run} ({c.get('date', 'undated')})"
        if c.get("version") != version:
            stale.append([c.get("bench", name), c["measure"], fmt(c.get("gristmill")), fmt(c.get("peer")),
                          c.get("version") or "not recorded", c.get("date", "undated")])
            continue
        rows.append([c.get("bench", name), c["measure"], fmt(c.get("gristmill")), fmt(c.get("peer")),
                     fmt(c.get("ratio")), fmt(c.get("goal")), fmt(c.get("met")), like_for_like(c),
                     c.get("load", ""), when])
    return rows


def unmet(lines: list[list]) -> list[list]:
    """One row per missed goal: its shortfall, and the attempts on record for its bench (once per bench)."""
    rows, seen = [], set()
    for r in lines:
        if r[6] != "**no**":
            continue
        bench = r[0]
        what = "(as above)" if bench in seen else tried(bench).replace("|", "/")
        seen.add(bench)
        rows.append([bench, r[1], shortfall(str(r[5]), str(r[4]), str(r[2])) or "-", what])
    return rows


def write_summary(args, started, load_start, lines, failures, state, stale, final: bool) -> str:
    """Written after every benchmark, so a run cut short still leaves what it measured."""
    met = sum(1 for r in lines if r[6] == "yes")
    goals = sum(1 for r in lines if r[6] in ("yes", "**no**"))
    cells = [r[7] for r in lines]
    same, unknown = cells.count("yes"), cells.count("not recorded")
    differ = sum(1 for c in cells if c.startswith("no:"))
    state_note = "" if final else " (in progress: written after each benchmark)"
    flag = " (uncommitted changes: the hash after +dirty names them)" if state["dirty"] else ""
    mode = "--quick" if args.quick else "--full"
    head = (f"# Benchmark summary ({mode}){state_note}\n\n"
            f"Generated by `.venv/bin/python benchmarks/run_all.py {mode}` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, {(time.time() - started) / 60:.0f} min, "
            f"at code version `{state['version']}`{flag}; every row below was measured at that version.\n"
            f"Machine: {machine()}.\nLoad (/proc/loadavg 1/5/15 min) at the start: {load_start}; at the end: "
            f"{load_now()}. On a shared machine, load above the core count means every timing below is "
            f"slowed and noisy; the load column is taken when each figure's run started.\n\n"
            f"Goals met: {met} of {goals}. Of {same + differ + unknown} rows that compare with a peer, {same} are "
            f"like for like (same input bytes, tokenizer, normalization and steps, from each claim's `parity` "
            f"field), {differ} differ and say how in the \"like for like?\" column, and {unknown} record no "
            f"parity (their benchmark does not write the field yet: treat them as unverified). Rows whose run "
            f"says 'earlier' were not rerun (--only, --max-n) but were measured at this same version.\n\n")
    body = markdown_table(["bench", "measure", "gristmill", "peer", "ratio", "goal", "met?", "like for like?",
                           "load 1/5/15", "run"], lines)
    missed = unmet(lines)
    if missed:
        body += ("\n\n## Goals not met: by how much, and what was tried\n\n"
                 + markdown_table(["bench", "measure", "short by", "what was tried (benchmarks/tried.py)"], missed))
    if stale:
        body += ("\n\n## Stale: measured at another code version (not in the table above, not counted)\n\n"
                 + markdown_table(["bench", "measure", "gristmill", "peer", "version", "date"], stale))
    if failures:
        body += "\n\n## Did not run or wrote nothing\n\n" + markdown_table(["benchmark", "why"], failures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    # a --full run (hours, often cut to --only or --minutes) must not overwrite the quick run's summary
    out = RESULTS / ("SUMMARY.md" if args.quick else "SUMMARY-full.md")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(head + body + "\n")
    os.replace(tmp, out)
    return head + body


if __name__ == "__main__":
    raise SystemExit(main())
