"""Shared benchmark helpers: real input at a chosen size, timing, peak memory of the process tree, tables.

Every benchmark runs gristmill and its peer on the same files in one process run and prints a
markdown table (also written to benchmarks/results/)."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]

def _shared() -> Path:
    """The developers' data folder: $GRISTMILL_SHARED, else shared/data beside the checkout or one level up
    (a worktree under wt/)."""
    if os.environ.get("GRISTMILL_SHARED"):
        return Path(os.environ["GRISTMILL_SHARED"])
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "data").is_dir():
            return base / "shared" / "data"
    return REPO.parent / "shared" / "data"


SHARED = _shared()
CACHE = REPO / "benchmarks" / "cache"
RESULTS = REPO / "benchmarks" / "results"
WEB = SHARED / "web" / "dolma_ccmain201930_cclicensed_697docs.jsonl.gz"


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def web_docs() -> list[dict]:
    """The real CommonCrawl sample: id, text, url, source."""
    out = []
    for d in read_jsonl(WEB):
        out.append({"id": d["id"], "text": d.get("text") or "", "url": (d.get("metadata") or {}).get("url"),
                    "source": "cc"})
    return out


def repeated_jsonl(docs: list[dict], n: int, name: str) -> Path:
    """Repeat docs to n rows (ids made unique) as plain jsonl in the cache; reused across runs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}-{n}.jsonl"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for i in range(n):
            d = dict(docs[i % len(docs)])
            d["id"] = f"{d['id']}-{i // len(docs)}"
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


class PeakRSS:
    """Samples RSS of this process and all its descendants (Spark's JVM and Python workers included)."""

    def __init__(self, every: float = 0.2, skip_existing_children: bool = False):
        """skip_existing_children: leave out child processes that already run on entry (a Spark JVM left
        from an earlier measurement in the same benchmark process is not the peer's memory)."""
        self.every = every
        self.skip_existing_children = skip_existing_children
        self.peak_total = self.peak_self = self.peak_children = 0
        self._stop = threading.Event()
        self._skip: set[int] = set()

    def _sample(self):
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                own = me.memory_info().rss
                kids = 0
                for c in me.children(recursive=True):
                    if c.pid in self._skip:
                        continue
                    try:
                        kids += c.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak_self = max(self.peak_self, own)
                self.peak_children = max(self.peak_children, kids)
                self.peak_total = max(self.peak_total, own + kids)
            except psutil.Error:
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        if self.skip_existing_children:
            self._skip = {c.pid for c in psutil.Process().children(recursive=True)}
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    @property
    def mb(self) -> dict:
        return {"self_mb": self.peak_self / 2**20, "children_mb": self.peak_children / 2**20,
                "total_mb": self.peak_total / 2**20}


@contextmanager
def timed():
    box = {}
    t0 = time.perf_counter()
    yield box
    box["seconds"] = time.perf_counter() - t0


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def publish(name: str, text: str) -> None:
    """Print a result and keep it in benchmarks/results/<name>.md."""
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M")
    (RESULTS / f"{name}.md").write_text(f"<!-- {stamp}, {os.cpu_count()} cores -->\n{text}\n")


# -- claims: one line each in SUMMARY.md -----------------------------------------------------------
def load_now() -> str:
    """The machine's load as /proc/loadavg gives it (1, 5, 15 minutes), for beside every figure."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())


def median3(fn, runs: int = 3):
    """Run fn `runs` times; (median seconds, min, max, the median run's result). Seconds-long figures are
    the median of 3 with the min-max beside them, so one hiccup on a shared machine does not decide."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = fn()
        out.append((time.perf_counter() - t0, res))
    out.sort(key=lambda r: r[0])
    return out[len(out) // 2][0], out[0][0], out[-1][0], out[len(out) // 2][1]


def spread(med: float, lo: float, hi: float, unit: str = "s") -> str:
    return f"{med:.2f} {unit} ({lo:.2f}-{hi:.2f})"


# what a benchmark writes as it runs: not part of the code a claim was measured with
_NOT_CODE = (":(exclude)benchmarks/results", ":(exclude)benchmarks/cache", ":(exclude)benchmarks/out")


def code_state() -> dict:
    """The code a figure was measured with: HEAD, whether the checkout differs from it (results and caches
    aside) and a hash of that difference, so two dirty runs are told apart.

    `version` is what run_all.py compares: claims of one version only go into one summary."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout
    head = git("rev-parse", "HEAD").strip() or "unknown"
    diff = git("diff", "HEAD", "--", ".", *_NOT_CODE)
    untracked = git("ls-files", "--others", "--exclude-standard", "--", ".", *_NOT_CODE)
    dirty = bool(diff.strip() or untracked.strip())
    digest = hashlib.sha256((diff + untracked).encode()).hexdigest()[:10] if dirty else ""
    return {"commit": head, "dirty": dirty, "version": head[:12] + (f"+dirty.{digest}" if dirty else "")}


SAME = {"input": "same bytes", "tokenizer": "same", "normalization": "same", "steps": "same"}


def parity(**differs: str) -> dict:
    """A claim's `parity` field: what both tools were given, each aspect "same" unless named here with how it
    differs (e.g. tokenizer="datatrove: spaCy; gristmill: regex"). run_all.py derives the like-for-like
    column from it.

    >>> parity()["tokenizer"], parity(steps="gristmill adds exact Jaccard")["steps"]
    ('same', 'gristmill adds exact Jaccard')
    """
    unknown = set(differs) - set(SAME)
    if unknown:
        raise ValueError(f"parity aspects are {sorted(SAME)}, not {sorted(unknown)}")
    return {**SAME, **differs}


def write_claims(bench: str, claims: list[dict]) -> None:
    """Keep a benchmark's claims for run_all.py: each a dict with measure, gristmill, peer, ratio, goal,
    met (True/False/None), load and, for a comparison with a peer, `parity` (see parity()). The commit, the
    date and the load are added to each. Written next to the benchmark's markdown table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    load = load_now()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    state = code_state()
    for c in claims:
        c.setdefault("load", load)
        c.setdefault("bench", bench)
        c.setdefault("date", when)
        for k, v in state.items():
            c.setdefault(k, v)
    tmp = RESULTS / f".{bench}.claims.tmp"
    tmp.write_text(json.dumps(claims, indent=1) + "\n")
    os.replace(tmp, RESULTS / f"{bench}.claims.json")
