"""Distinct real passages for the selector benchmarks, and their embeddings (computed once, cached).

Sources, all written by people: the quickstart corpus (package READMEs, licences, pydoc topics) split at
blank lines; the standard library's docstrings (module, class, function) and its function sources; and the
real sets in shared/data split into paragraphs (web pages, domain mix, DCLM, UDHR paragraphs, Leipzig
sentences). Exact duplicate strings are dropped, so every row is a distinct text and every vector a real
model output (no synthetic copies).

    .venv/bin/python benchmarks/passages.py --n 100000      # embeds what is missing, in chunks
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import os
import random
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, SHARED, read_jsonl  # noqa: E402

MIN_CHARS, MAX_CHARS = 40, 1500


def _paragraphs(text: str) -> list[str]:
    out = []
    for p in (text or "").split("\n\n"):
        p = " ".join(p.split())
        if MIN_CHARS <= len(p):
            out.append(p[:MAX_CHARS])
    return out


def _stdlib() -> list[str]:
    """Docstrings and function sources of the standard library (sorted paths: the same order every run)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts or "tests" in path.parts:
            continue
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
            lines = src.splitlines()
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    out += _paragraphs(doc)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                seg = "\n".join(lines[node.lineno - 1:node.end_lineno])  # get_source_segment is quadratic
                if len(seg) >= MIN_CHARS:
                    out.append(seg[:MAX_CHARS])
    return out


def _shared() -> list[str]:
    out = []
    for rel in ["web/dolma_ccmain201930_cclicensed_697docs.jsonl.gz", "web/dolma_ccnet_en_head_30docs.jsonl.gz",
                "web/datajuicer_redpajama_cc_c4_20docs.jsonl.gz", "domains/domain_mix.jsonl.gz",
                "quality/dclm_human_quality_labels_499.jsonl.gz",
                "dedup/clough_stevenson_plagiarised_short_answers_100.jsonl.gz"]:
        for d in read_jsonl(SHARED / rel):
            out += [p for line in (d.get("text") or "").split("\n") for p in _paragraphs(line)]
    for d in read_jsonl(SHARED / "lid/udhr_532_declarations_paragraphs.jsonl.gz"):
        if d.get("kind") == "paragraph":
            out += _paragraphs(d.get("text") or "")
    for d in read_jsonl(SHARED / "lid/leipzig_lingua_testdata_75langs.jsonl.gz"):
        t = d.get("text") or ""
        if len(t.split()) >= 5:  # sentences, not the word pairs or single words
            out += _paragraphs(t)
    return out


def passages(limit: int | None = None) -> list[str]:
    """All distinct passages in a fixed shuffled order (a prefix of the full list is a fair sample); the list
    is cached, because walking the standard library takes a minute."""
    import json
    path = CACHE / "passages.json"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(_collect(), ensure_ascii=False))
        os.replace(tmp, path)
    texts = json.loads(path.read_text())
    return texts if limit is None else texts[:limit]


def _collect() -> list[str]:
    from gristmill.pipeline.inputs.pkgcorpus import iter_documents
    texts = [p for d in iter_documents() for p in _paragraphs(d["text"])]
    texts += _stdlib()
    if SHARED.exists():
        texts += _shared()
    texts = list(dict.fromkeys(texts))
    random.Random(0).shuffle(texts)
    return texts


CHUNK = 5000


def cached_count(tokens: int = 128) -> int:
    """How many leading passages already have cached embeddings (complete chunks in order)."""
    folder = CACHE / f"passages-t{tokens}"
    starts = {int(p.name.split("-")[0]) for p in folder.glob("*.npy") if not p.name.endswith(".tmp.npy")}
    n = 0
    while n in starts:
        n += CHUNK
    return n


def embeddings(n: int, tokens: int = 128, quiet: bool = False) -> tuple[list[str], np.ndarray]:
    """The first n passages and their embeddings; chunks of 5,000 are cached, so an interrupted run resumes
    and a larger n reuses the smaller one's work."""
    texts = passages(n)
    if len(texts) < n and not quiet:
        print(f"only {len(texts):,} distinct passages available (asked for {n:,})", file=sys.stderr)
    folder = CACHE / f"passages-t{tokens}"
    folder.mkdir(parents=True, exist_ok=True)
    embedder = None
    mats = []
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start:start + CHUNK]
        key = hashlib.sha1("\0".join(chunk).encode()).hexdigest()[:16]
        path = folder / f"{start:07d}-{key}.npy"
        if not path.exists():
            if embedder is None:
                from gristmill.selectors.embed import Embedder, EmbedSettings
                embedder = Embedder(EmbedSettings(max_tokens=tokens, batch_size=64))
            t0 = time.perf_counter()
            X = embedder.embed(chunk).astype(np.float16)
            secs = time.perf_counter() - t0
            if not quiet:
                print(f"embedded passages {start:,}-{start + len(chunk):,} in {secs:.0f}s "
                      f"({len(chunk) / secs:.0f}/s, load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, X)
            os.replace(tmp, path)
        mats.append(np.load(path))
    X = np.concatenate(mats).astype(np.float32) if mats else np.zeros((0, 384), np.float32)
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return texts, X


def cheap_embeddings(n: int, dim: int = 384, quiet: bool = False) -> tuple[list[str], np.ndarray]:
    """The first n passages embedded CHEAPLY, for scale runs when a sentence encoder is out of reach on this
    machine (MiniLM runs about 20 docs/s on 2 CPU cores): TF-IDF of hashed word unigrams + bigrams (2^16
    buckets), reduced to `dim` by randomized TruncatedSVD (3 iterations, seed 0), rows L2-normalized. Real
    text, a real embedding, but NOT MiniLM's: label every figure made from it. Cached."""
    texts = passages(n)
    path = CACHE / f"passages-tfidf-svd{dim}-{len(texts)}.npy"
    if not path.exists():
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
        t0 = time.perf_counter()
        counts = HashingVectorizer(n_features=2 ** 16, ngram_range=(1, 2), alternate_sign=False, norm=None,
                                   token_pattern=r"(?u)\b\w+\b").transform(texts)
        X = TruncatedSVD(dim, n_iter=3, random_state=0).fit_transform(TfidfTransformer().fit_transform(counts))
        X = X.astype(np.float32)
        if not quiet:
            print(f"tf-idf + svd{dim} of {len(texts):,} passages in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, X)
        os.replace(tmp, path)
    X = np.load(path)
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    return texts, X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--count", action="store_true", help="only count the distinct passages")
    ap.add_argument("--cheap", action="store_true", help="TF-IDF + TruncatedSVD vectors instead of MiniLM's")
    args = ap.parse_args()
    if args.count:
        t = passages()
        print(f"{len(t):,} distinct passages; median {sorted(map(len, t))[len(t) // 2]} chars")
        return
    texts, X = cheap_embeddings(args.n) if args.cheap else embeddings(args.n, args.tokens)
    print(f"{len(texts):,} passages, embeddings {X.shape}")


if __name__ == "__main__":
    main()
