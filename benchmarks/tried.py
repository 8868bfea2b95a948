"""For each benchmark whose goal a row misses: what was tried, so the summary says it beside the shortfall.

Kept here (not in each claim) because it is the history of attempts across commits; the profiles behind each
line are in benchmarks/results/NOTES.md. Update the line when an attempt lands or is measured and dropped.
"""
from __future__ import annotations

import re

TRIED = {
    "bench_minhash": (
        "Vectorized word hashing (no Python call per word; signature maths 14k docs/s/core, 2.6x datatrove per "
        "batch); signature and LSH bands in one pass; stats from Parquet footers; one-aggregate identity check "
        "(43 -> 33 Spark jobs; warm -27-29%, cold -8% in an interleaved A/B); faster Python-worker start; a "
        "class-data-sharing archive for the JVM; C1-only JIT on small local machines (cold runs -28-29% in an "
        "interleaved A/B at 5k and 100k). rensa measured and not used: a different sketch (FSS-style "
        "R-MinHash, FxHash), and the maths is ~5% of a warm run. What remains: the JVM's start and first-minute "
        "JIT (~2/3 of a cold 20k run), the read stage writing every text before the stage writes it again, "
        "~26 small Spark jobs. Untried: fusing the read into the first stage; a JVM-free local engine (per-batch "
        "stages in a process pool, the bucket grouping in DuckDB): cold rows at <= 100k are the JVM's fixed "
        "cost (1M cold is 2.1x datatrove, 100k warm 1.8x)."),
    "bench_quality": (
        "Rules over whole Arrow batches (one word split shared by Gopher, Gopher repetition and FineWeb; per-word "
        "counts as bincounts; one sort per n-gram size per batch): 1.15-1.20x -> 1.73-1.76x datatrove in one "
        "process. What remains: C4's per-line rules, the regex word split (datatrove at parity pays it too) and "
        "the Arrow hop; the estimated ceiling without native word/line kernels is ~3x. pyarrow's RE2 kernels "
        "are not a drop-in (RE2's \\w is ASCII, Python's Unicode)."),
    "bench_langid": (
        "One split per core and warm workers in the benchmark (one task had read the whole file); prepare() is "
        "4% of a batch. >= 2x datatrove is bounded by raw fastText predict's own lead (1.1x at 5k, 1.6x at "
        "100k in the --full run at 88267b1: datatrove asks for every label, k=-1); gristmill's Spark stage is at "
        "1.09-1.14 of raw predict per core at 100k, so what is left is fastText's own time."),
    "exact_dedup": (
        "The stage gained the one-aggregate identity check (every stage); warm it is within 1-1.5x of datatrove. "
        "Cold, the JVM's start and first-minute JIT dominate at 20k-100k documents on 2 cores; the class-data-"
        "sharing archive halves the start; C1-only JIT on small local machines. Untried: fusing the read."),
    "bench_read": (
        "Small files packed by bytes into tasks (15 -> 2,400 files/s). jsonl: orjson's line reader parses "
        "~225 MB per CPU-second in one process, so the stage's fixed costs (its Spark jobs, the Parquet write, "
        "the id grouping) are the gap; a pyarrow block JSON parser was measured (97 MB per CPU-second, slower) "
        "and reverted."),
    "selectors": (
        "Probed global kNN graph (inverted lists + reverse-neighbour merge) with exact batched greedy replaced "
        "the partitioned graphs (objective 0.93 -> 0.98+ at 100k); results scattered into flat buffers, the "
        "reverse merge on one integer key, the greedy checking 32 candidates a pass (1/10.6 -> 1/11.3 at 5%). "
        "72% of the time is the exact search inside the probed lists (2,154 similarities a row against the "
        "exact graph's 100,000, but FAISS's per-pair SIMD path runs ~3x fewer flops/s than the exact side's "
        "BLAS). Measured and dropped: list-by-list blocks (18k similarities a row), more lists / fewer probes "
        "(slower or below 0.98), 2 k-means iterations, numpy/torch BLAS products with argpartition/topk (the "
        "top-k costs what the product saves), PCA screening, fp16 and 8-bit lists, rows sorted by list. "
        "A GPU (FAISS on both sides) was not lent."),
    "eval_dedup": (
        "Both sides run LSH only with the same bands, rows and word 5-grams on the same documents; the gap is "
        "datatrove's hash family and its rule for documents shorter than one shingle (benchmarks/parity.py). "
        "Not tuned: matching datatrove's hashes would change which pairs collide, not the method."),
    "rephrase": (
        "The in-process backend batches chunks and loads the model once per worker; the gap to raw generate() "
        "is the stage's chunking, checks and cache writes."),
}

_CLAUSE = re.compile(r"([<>]=?)\s*(1/)?([\d,.]+|peer)\s*(x|×)?\s*([^,;()]*)")
_NUM = re.compile(r"[\d,]*\.?\d+")


def _number(text: str) -> float | None:
    m = _NUM.search(text.replace(",", ""))
    return float(m.group()) if m else None


def _ratio(cell: str) -> float | None:
    cell = str(cell).strip()
    if cell.startswith("1/"):
        n = _number(cell[2:])
        return 1 / n if n else None
    return _number(cell)


def shortfall(goal: str, ratio: str, gristmill: str) -> str:
    """How far a row is from each clause of its goal, e.g. "ratio 0.14x against >= 5x: 36x short".

    >>> shortfall(">= 5x", "0.14", "21 s")
    'ratio 0.14 against >= 5x: 35.7x short'
    >>> shortfall("<= 1/20", "1/10.6", "5.7 s")
    'ratio 1/10.6 against <= 1/20: 1.9x short'
    >>> shortfall(">= 5x, >= 3,000 docs/s/core", "0.62", "4.96 s = 504 docs/s/core")
    'ratio 0.62 against >= 5x: 8.1x short; 504 docs/s/core against >= 3,000 docs/s/core: 6.0x short'
    >>> shortfall("(no goal set; >= peer)", "0.767", "0.136")
    'ratio 0.767 against >= peer: 1.3x short'
    """
    out = []
    for m in _CLAUSE.finditer(goal):
        op, inv, num, _, unit = m.groups()
        target = 1.0 if num == "peer" else float(num.replace(",", ""))  # ">= peer": a ratio of 1
        target = 1 / target if inv else target
        unit = unit.strip()
        if unit:
            at = re.search(r"([\d,]*\.?\d+)\s*" + re.escape(unit.split()[0]), str(gristmill))
            have = float(at.group(1).replace(",", "")) if at else _number(str(gristmill))
            shown = f"{have:,.0f} {unit}" if have is not None else None
        else:
            have, shown = _ratio(ratio), f"ratio {ratio}"
        if have is None or have <= 0:
            continue
        gap = target / have if op.startswith(">") else have / target
        if gap > 1:
            out.append(f"{shown} against {m.group(0).strip()}: {gap:.2f}x short" if gap < 1.1
                       else f"{shown} against {m.group(0).strip()}: {gap:.1f}x short")
    return "; ".join(out)


def tried(bench: str) -> str:
    """The attempts on record for a claim's bench name (e.g. bench_minhash_5000 -> bench_minhash)."""
    for key, text in TRIED.items():
        if bench.startswith(key):
            return text
    return "nothing on record: say what was tried in benchmarks/tried.py"
