"""Near-duplicate evaluation sets and the two systems under test (gristmill in Spark, datatrove locally).

Sets: Clough-Stevenson graded answers, bib_dedupe records with human clusters, and a synthetic set made
from real web docs re-edited at controlled rates. Both systems get the same docs as jsonl and return
clusters as {id: cluster label}; pairs inside a cluster are the predicted duplicate pairs."""
from __future__ import annotations

import csv
import gzip
import itertools
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import xxhash
from harness import SHARED, read_jsonl, web_docs

from gristmill.stages.dedup import signatures as minhash

DEDUP = SHARED / "dedup"


def clough() -> tuple[list[dict], set[tuple[str, str]]]:
    """Docs and gold pairs: each answer marked cut or light paired with its Wikipedia source."""
    rows = read_jsonl(DEDUP / "clough_stevenson_plagiarised_short_answers_100.jsonl.gz")
    docs = [{"id": r["file"], "text": r["text"]} for r in rows]
    orig = {r["task"]: r["file"] for r in rows if r["category"] == "orig"}
    gold = {tuple(sorted((r["file"], orig[r["task"]]))) for r in rows if r["category"] in ("cut", "light")}
    return docs, gold


def bib() -> tuple[list[dict], set[tuple[str, str]]]:
    """Records as text (title, authors, year, journal, pages) and all pairs of each gold cluster."""
    docs, gold = [], set()
    for rec in sorted(DEDUP.glob("bib_dedupe/*_records.csv.gz")):
        topic = rec.name.removesuffix("_records.csv.gz")
        with gzip.open(rec, "rt", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                text = " ".join(r.get(k) or "" for k in ("title", "author", "year", "journal", "volume", "pages"))
                docs.append({"id": f"{topic}/{r['ID']}", "text": text})
        with gzip.open(rec.with_name(f"{topic}_gold_duplicate_clusters.csv.gz"), "rt") as fh:
            for r in csv.DictReader(fh):
                ids = sorted(f"{topic}/{i}" for i in r["merged_ids"].split(";"))
                gold |= set(itertools.combinations(ids, 2))
    return docs, gold


def _edit(text: str, rng: random.Random, rate: float, boiler: list[str]) -> str:
    paras = [p for p in text.split("\n") if p.strip()]
    if len(paras) > 2 and rng.random() < 0.3:
        rng.shuffle(paras)
    out = []
    for p in paras:
        ws = []
        for w in p.split():
            r = rng.random()
            if r < rate / 3:
                continue  # delete
            ws.append(f"x{rng.randrange(10**6)}" if r < 2 * rate / 3 else w)  # substitute
            if rng.random() < rate / 3:
                ws.append(f"y{rng.randrange(10**6)}")  # insert
        out.append(" ".join(ws))
    if rng.random() < 0.3:
        out.append(rng.choice(boiler))
    return "\n".join(out)


def synthetic(copies: int = 3, seed: int = 0) -> list[dict]:
    """Real web docs (>= 100 words) plus edited copies at rates 0-30%; ids say which doc they came from."""
    rng = random.Random(seed)
    base = [d for d in web_docs() if len(minhash.words(d["text"])) >= 100]
    boiler = ["Share this page on Facebook Twitter and email. Cookies help us deliver our services.",
              "Copyright all rights reserved. Privacy policy terms of use contact us sitemap."]
    docs = [{"id": f"{d['id']}", "text": d["text"]} for d in base]
    for d in base:
        for c in range(copies):
            rate = rng.choice([0.0, 0.02, 0.05, 0.1, 0.2, 0.3])
            docs.append({"id": f"{d['id']}~{c}", "text": _edit(d["text"], rng, rate, boiler)})
    return docs


def char_grams(text: str, n: int = 5) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character n-grams of the whitespace-collapsed text (case and
    punctuation kept): a shingling neither system under test uses (both use lower-cased word 5-grams)."""
    t = " ".join((text or "").split())
    if len(t) < n:
        return np.array([xxhash.xxh3_64_intdigest(t)] if t else [], dtype=np.uint64)
    return np.unique(np.fromiter((xxhash.xxh3_64_intdigest(t[i:i + n]) for i in range(len(t) - n + 1)),
                                 dtype=np.uint64, count=len(t) - n + 1))


def char_gold(docs: list[dict], threshold: float = 0.8, n: int = 5, max_df: int = 10,
              min_shared: int = 20) -> set[tuple[str, str]]:
    """Independent near-duplicate truth: pairs whose character-5-gram Jaccard is >= threshold. Candidates are
    the pairs sharing at least `min_shared` character 5-grams held by at most `max_df` documents (a pair at
    Jaccard >= 0.8 shares most of its grams, rare ones included, unless both texts are boilerplate or under
    ~25 characters); each candidate's Jaccard is then computed exactly on the full gram sets."""
    grams = [char_grams(d["text"], n) for d in docs]
    h = np.concatenate(grams) if grams else np.zeros(0, np.uint64)
    owner = np.repeat(np.arange(len(docs)), [len(g) for g in grams])
    order = np.argsort(h, kind="stable")
    h, owner = h[order], owner[order]
    starts = np.flatnonzero(np.concatenate([[True], h[1:] != h[:-1]]))
    sizes = np.diff(np.concatenate([starts, [len(h)]]))
    codes = []
    for z in np.unique(sizes[(sizes > 1) & (sizes <= max_df)]):
        block = owner[starts[sizes == z][:, None] + np.arange(z)]  # one row per gram held by z documents
        i, j = np.triu_indices(z, 1)
        a, b = np.minimum(block[:, i], block[:, j]), np.maximum(block[:, i], block[:, j])
        codes.append((a * len(docs) + b).ravel())
    cand, shared = np.unique(np.concatenate(codes), return_counts=True) if codes else (np.zeros(0, np.int64), 0)
    short = {i for i, g in enumerate(grams) if len(g) < min_shared}  # tiny texts: judge every pair sharing one
    keep = shared >= min_shared
    if short:
        keep |= np.isin(cand // len(docs), list(short)) | np.isin(cand % len(docs), list(short))
    cand = cand[keep]
    gold = set()
    for a, b in zip((cand // len(docs)).tolist(), (cand % len(docs)).tolist()):
        inter = len(np.intersect1d(grams[a], grams[b], assume_unique=True))
        union = len(grams[a]) + len(grams[b]) - inter
        if union and inter / union >= threshold:
            gold.add(tuple(sorted((docs[a]["id"], docs[b]["id"]))))
    return gold


def cluster_pairs(clusters: dict) -> set[tuple[str, str]]:
    groups = defaultdict(list)
    for i, c in clusters.items():
        if c is not None:
            groups[c].append(i)
    return {p for g in groups.values() for p in itertools.combinations(sorted(g), 2)}


def prf(pred: set, gold: set) -> tuple[float, float, float]:
    tp = len(pred & gold)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(gold) if gold else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def write_shards(docs: list[dict], folder: Path, shards: int = 2) -> Path:
    """The same docs as `shards` jsonl files, so datatrove can run one task per file like Spark's 2 cores."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k in range(shards):
        with open(folder / f"part-{k}.jsonl", "w", encoding="utf-8") as fh:
            for d in docs[k::shards]:
                fh.write(json.dumps({"id": d["id"], "text": d["text"], "source": d.get("source", "bench")}) + "\n")
    return folder


def run_gristmill(folder: Path, work: Path, params: dict, shuffle_partitions: int = 4) -> tuple[dict, dict]:
    """A real gristmill run (read + dedup_minhash); returns ({id: minhash_cluster}, stage stats)."""
    return gristmill_clusters(gristmill_run(folder, work, params, shuffle_partitions))


def gristmill_run(folder: Path, work: Path, params: dict, shuffle_partitions: int = 4) -> Path:
    """Run read + dedup_minhash; returns the stage folder."""
    import yaml

    from gristmill.pipeline.runner import Runner
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cfg = {"name": "bench", "runs_dir": str(work), "input": {"format": "jsonl", "path": str(folder / "*.jsonl")},
           "spark": {"master": "local[2]", "driver_memory": "4g", "shuffle_partitions": shuffle_partitions},
           "stages": [{"dedup_minhash": params}]}
    (work / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = Runner(work / "c.yaml", quiet=True).run()
    return next(run.glob("01-dedup_minhash"))


def gristmill_clusters(stage: Path) -> tuple[dict, dict]:
    import pyarrow.parquet as pq
    clusters = {}
    for part in ("kept", "rejected"):
        for f in (stage / part).glob("*.parquet"):
            t = pq.read_table(f, columns=["id", "minhash_cluster"])
            clusters.update(zip(t.column("id").to_pylist(), t.column("minhash_cluster").to_pylist()))
    return clusters, json.loads((stage / "stats.json").read_text())


def run_datatrove(folder: Path, work: Path, workers: int = 2, ngram: int = 5, bands: int = 14,
                  rows: int = 8, norm: str = "parity") -> dict:
    """datatrove's four MinHash steps with local executors on files; returns {id: cluster id or None}."""
    datatrove_run(folder, work, workers, ngram, bands, rows, norm)
    return datatrove_clusters(work)


# gristmill's shingles, approximated with datatrove's own normalization (before parity.py): lower-case, strip
# punctuation, leave digits and diacritics alone (its defaults fold both). `_` still splits words here
GRISTMILL_NORM = {"lowercase": True, "norm_whitespace": True, "remove_punctuation": True,
                  "norm_unicode_diacritics": False, "norm_numbers": False}


def datatrove_run(folder: Path, work: Path, workers: int = 2, ngram: int = 5, bands: int = 14,
                  rows: int = 8, norm: str = "parity") -> None:
    """norm: "parity" hands datatrove gristmill's tokenizer (parity.MinhashTokenizer) with its normalization
    off, so both shingle the same tokens; "gristmill" approximates gristmill's shingles with datatrove's
    normalization settings and its spaCy tokenizer; "datatrove" is datatrove as shipped (spaCy, digits to 0,
    diacritics folded)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.text import TextNormConfig
    shutil.rmtree(work, ignore_errors=True)
    import parity
    language = "en"
    if norm == "parity":
        norm_cfg, language = parity.PARITY_NORM, parity.MinhashTokenizer()
    else:
        norm_cfg = TextNormConfig(**GRISTMILL_NORM) if norm == "gristmill" else TextNormConfig()
    cfg = MinhashConfig(n_grams=ngram, num_buckets=bands, hashes_per_bucket=rows,
                        hash_config=HashConfig(precision=64), norm_config=norm_cfg)
    files = len(list(folder.glob("*.jsonl")))
    reader = lambda: JsonlReader(str(folder), glob_pattern="*.jsonl")  # noqa: E731
    LocalPipelineExecutor([reader(), MinhashDedupSignature(str(work / "sigs"), config=cfg,
                                                                 language=language)],
                          tasks=files, workers=workers, logging_dir=str(work / "logs/1")).run()
    LocalPipelineExecutor([MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)],
                          tasks=bands, workers=workers, logging_dir=str(work / "logs/2")).run()
    LocalPipelineExecutor([MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg,
                                               save_cluster_id=True)],
                          tasks=1, logging_dir=str(work / "logs/3")).run()
    LocalPipelineExecutor([reader(), MinhashDedupFilter(str(work / "remove"), load_cluster_ids=True,
                                                        exclusion_writer=JsonlWriter(str(work / "removed"))),
                           JsonlWriter(str(work / "kept"))],
                          tasks=files, workers=workers, logging_dir=str(work / "logs/4")).run()


def open_text(f: Path):
    return (gzip.open if f.suffix == ".gz" else open)(f, "rt", encoding="utf-8")


def count_lines(folder: Path) -> int:
    total = 0
    for f in folder.glob("*.jsonl*"):
        with open_text(f) as fh:
            total += sum(1 for _ in fh)
    return total


def datatrove_clusters(work: Path) -> dict:
    clusters = {}
    for part in ("kept", "removed"):
        for f in (work / part).glob("*.jsonl*"):
            with open_text(f) as fh:
                for line in fh:
                    d = json.loads(line)
                    c = (d.get("metadata") or {}).get("minhash_cluster_id", -1)
                    clusters[d["id"]] = None if c == -1 else c
    return clusters

