"""The decontamination index: every n-gram of every benchmark item as a sorted uint64 array, and matching.

Per item, the tokens of `passage`, `question` and `answer` are joined in that order and every n-gram of the
joined sequence is indexed: the question's own n-grams, the answer's, and the ones straddling question and
answer (as GPT-3, Brown et al. 2020, Appendix C, indexes whole test examples; datatrove's `find_overlap_ngrams`).
An item with fewer than n tokens (but at least `min_item_words`) is indexed once, as its whole token sequence:
a document must contain all of it. Membership is a binary search (`np.searchsorted`) into the sorted array;
`owners` holds, for each hash, the first item that has it.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .normalization import TokenHasher, ngram_hashes, token_offsets, tokens

DATA = "gristmill.stages.decontaminate"


def bundled() -> dict[str, dict]:
    """name -> metadata (file, source, version, licence, sha256, items) of the test sets gristmill ships."""
    return json.loads((resources.files(DATA) / "data" / "benchmarks.json").read_text())


def _rows_of(path: Path | str, name: str) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: not JSON ({e}); benchmark '{name}' files are jsonl with "
                                 "`question`, `answer` and optional `passage`, `id`") from None
            if not isinstance(r, dict) or not isinstance(r.get("question", ""), str) or (
                    not r.get("question") and not r.get("answer")):
                got = sorted(r) if isinstance(r, dict) else r
                raise ValueError(f"{path}:{line_no}: benchmark '{name}' rows need a string `question` and/or "
                                 f"`answer` (optional `passage`, `id`); got keys {got}")
            rows.append({"id": str(r.get("id", line_no)), "question": r.get("question") or "",
                         "answer": str(r.get("answer") or ""), "passage": r.get("passage") or ""})
    return rows


def load_bundled(name: str) -> list[dict]:
    meta = bundled()[name]
    path = resources.files(DATA) / "data" / meta["file"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ValueError(f"{path}: sha256 differs from benchmarks.json; the shipped test set was changed. "
                         "Reinstall gristmill or rebuild it with scripts/decon_data.py")
    with resources.as_file(path) as p:
        return _rows_of(p, name)


def load_file(path: str, name: str) -> list[dict]:
    return _rows_of(path, name)


@dataclass
class Index:
    n: int
    hashes: np.ndarray  # sorted unique uint64
    owners: np.ndarray  # int32: index into items of the first item with that hash
    items: list[tuple[str, str]]  # (benchmark, item id)
    lengths: list[int]  # n-gram lengths to compute on documents: n and the lengths of short items
    stats: dict = field(default_factory=dict)
    # hash -> the other items that have it (items identical after normalization, shared boilerplate): rare
    shared: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def without(self, drop: np.ndarray) -> "Index":
        """The index less some hashes (n-grams frequent in reference text)."""
        keep = ~np.isin(self.hashes, np.asarray(drop, dtype=np.uint64))
        gone = set(self.hashes[~keep].tolist())
        return Index(self.n, self.hashes[keep], self.owners[keep], self.items, self.lengths,
                     {**self.stats, "ngrams_ignored_frequent": int((~keep).sum())},
                     {h: o for h, o in self.shared.items() if h not in gone})

    def lookup(self, h: np.ndarray) -> np.ndarray:
        """Owner item of each hash, -1 where the hash is not in the index."""
        if not len(self.hashes) or not len(h):
            return np.full(len(h), -1, dtype=np.int64)
        pos = np.searchsorted(self.hashes, h)
        pos[pos == len(self.hashes)] = 0
        found = self.hashes[pos] == h
        return np.where(found, self.owners[pos], -1)


def build_index(benchmarks: dict[str, list[dict]], n: int = 13, min_item_words: int = 8) -> Index:
    hasher = TokenHasher()
    chunks, owners, items, lengths = [], [], [], {n}
    per = {}
    for name, rows in benchmarks.items():
        indexed = short = skipped = 0
        for r in rows:
            toks = tokens(r["passage"]) + tokens(r["question"]) + tokens(r["answer"])
            k = n if len(toks) >= n else len(toks)
            if k < min_item_words or k == 0:
                skipped += 1
                continue
            short += k < n
            lengths.add(k)
            h = ngram_hashes(hasher(toks), k)
            chunks.append(h)
            owners.append(np.full(len(h), len(items), dtype=np.int32))
            items.append((name, r["id"]))
            indexed += 1
        per[name] = {"items": len(rows), "indexed": indexed, "short_full_match": short, "too_short_skipped": skipped}
    allh = np.concatenate(chunks) if chunks else np.empty(0, np.uint64)
    allo = np.concatenate(owners) if owners else np.empty(0, np.int32)
    order = np.argsort(allh, kind="stable")  # equal hashes together, in item order
    sh, so = allh[order], allo[order]
    first = np.ones(len(sh), dtype=bool)
    first[1:] = sh[1:] != sh[:-1]
    uniq, owner = sh[first], so[first]
    shared: dict[int, tuple[int, ...]] = {}
    for i in np.nonzero(~first & (so != np.concatenate([[-1], so[:-1]])))[0]:  # a second item with that hash
        h = int(sh[i])
        if int(so[i]) != int(owner[np.searchsorted(uniq, sh[i])]) and int(so[i]) not in shared.get(h, ()):
            shared[h] = shared.get(h, ()) + (int(so[i]),)
    return Index(n, uniq, owner, items, sorted(lengths), {"benchmarks": per, "ngrams": int(len(uniq))}, shared)


def match_batch(index: Index, texts: list[str | None], hasher: TokenHasher) -> list[list[tuple[int, int, int]]]:
    """Per document: (item, first token, end token) of every index n-gram it contains, in token positions.

    All documents' token hashes are concatenated, so each n-gram length costs n numpy operations per batch;
    n-grams that run across a document boundary are discarded."""
    toks = [tokens(t) for t in texts]
    sizes = np.array([len(t) for t in toks], dtype=np.int64)
    out: list[list[tuple[int, int, int]]] = [[] for _ in texts]
    if not sizes.sum():
        return out
    th = hasher([t for d in toks for t in d])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ends = starts + sizes
    doc_of = np.repeat(np.arange(len(texts)), sizes)
    for k in index.lengths:
        h = ngram_hashes(th, k)
        owner = index.lookup(h)
        hit = np.nonzero(owner >= 0)[0]
        hit = hit[hit + k <= ends[doc_of[hit]]]  # inside one document
        for p in hit:
            d = doc_of[p]
            s = int(p - starts[d])
            for o in (int(owner[p]),) + index.shared.get(int(h[p]), ()):
                out[d].append((o, s, s + k))
    return out


def merge_spans(hits: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Overlapping or touching hits of one item become one (item, start, end) token span.

    >>> merge_spans([(0, 5, 18), (0, 6, 19), (1, 40, 53), (0, 30, 43)])
    [(0, 5, 19), (0, 30, 43), (1, 40, 53)]
    """
    out: list[list[int]] = []
    for item, s, e in sorted(hits):
        if out and out[-1][0] == item and s <= out[-1][2]:
            out[-1][2] = max(out[-1][2], e)
        else:
            out.append([item, s, e])
    return [tuple(x) for x in out]


def char_spans(text: str, spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Token spans -> (item, first character, end character) in `text`."""
    offs = token_offsets(text)
    return [(item, offs[s][0], offs[e - 1][1]) for item, s, e in spans]
