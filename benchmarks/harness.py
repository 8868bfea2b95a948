"""Shared benchmark helpers: real input at a chosen size, timing, peak memory of the process tree, tables.

Every benchmark runs gristmill and its peer on the same files in one process run and prints a
markdown table (also written to benchmarks/results/)."""
from __future__ import annotations

import gzip
import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
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
