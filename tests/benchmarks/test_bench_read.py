"""bench_read.py's jsonl is cut from the speed corpus: it must ask corpora.build for about as many documents as
the bytes need, never a fixed multiple (the --full run's 1,000 MB asked for 2.5M documents of a machine's 1.09M)."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import bench_read  # noqa: E402


def test_the_corpus_asked_for_is_sized_by_the_text_still_needed(monkeypatch):
    machine_has = 1_088_047
    asked = []

    def build(n):
        asked.append(n)
        if n > machine_has:
            raise SystemExit(f"only {machine_has:,} distinct documents")
        return n

    monkeypatch.setattr(bench_read.corpora, "build", build)
    monkeypatch.setattr(bench_read.corpora, "read_docs",
                        lambda n: [{"id": str(i), "text": "x" * 1_270} for i in range(n)])
    docs = list(bench_read.real_docs(1_000 * 2**20))
    assert sum(len(d["text"]) for d in docs) >= 1_000 * 2**20
    assert len(docs) == len({d["id"] for d in docs}) and max(asked) <= machine_has
