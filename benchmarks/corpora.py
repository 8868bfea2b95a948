"""Speed corpora of distinct real documents, built from every real text this machine has.

Sources, all read as they are on disk: the venv's site-packages (code, docs, READMEs, licences, package
metadata), the Python standard library (the running interpreter's and /usr/lib/python3*), /usr/share/doc
(decompressed), the man pages (/usr/share/man, decompressed roff), info manuals, C headers (/usr/include),
Perl's and Vim's runtime files, the Google Cloud SDK's
Python code and docs, the JDKs' source archives (lib/src.zip: Java code and Javadoc, read inside the zip) and the
text fields of the jsonl files in the developers' data folder
(../shared/data: web pages, UDHR, Leipzig sentences, domain mix, DCLM pages, article bodies); records
shorter than a piece run together in file order first.

Long files are cut into document-sized pieces at blank lines (a target length per piece drawn log-uniformly between
`PIECE_MIN` and `PIECE_MAX` characters from a generator seeded by the text itself, so a text always cuts the same
way, wherever it is installed); a piece longer than twice its target is cut at line ends. Pieces are verbatim text.
A piece needs `MIN_WORDS` tokens as gristmill's MinHash counts them (so no document falls under the 5-gram short-
document rule where the two tools differ, see parity.py). Pieces are exact-deduplicated by a 128-bit hash of their
text: every document of a corpus is distinct (near-duplicates that occur naturally, such as one licence with two
years, stay). Files are visited in a seeded shuffle, taking at most `ROUND_ONE` pieces of each text, then again for
the rest, so every prefix has the whole machine's mix; the corpus of n is the first n pieces. No edits, no
repetition: near-duplicate edits belong to the near-duplicate evaluations (dedup_gold.py), never to speed rows.

The corpus lives in benchmarks/cache/corpus-<n>/ (gitignored) as two jsonl shards (one task per core for
datatrove; Spark splits them) and `manifest.json`: sizes, the provenance mix (documents and characters per
source), what was dropped and why, and a fingerprint of this file, its settings and the list of input files
(path, size, mtime). A cached corpus is reused only while its fingerprint matches.

    .venv/bin/python benchmarks/corpora.py --n 100000     # ~1-3 min on 2 busy cores
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import sysconfig
import time
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import CACHE, SHARED  # noqa: E402

from gristmill.stages.dedup.signatures import uses_chars, words  # noqa: E402
from gristmill.stages.scripts import word_chars  # noqa: E402

PIECE_MIN, PIECE_MAX = 300, 4000  # characters; the CC sample's median page is ~1,350
MIN_WORDS = 20
SEED = 0
SHARDS = 2
ROUND_ONE = 8  # pieces per text in the first round over the files
MAX_FILE_BYTES = 20_000_000  # larger files are data dumps, not text written by people
TEXT_SUFFIXES = {".py", ".pyi", ".pyx", ".pxd", ".md", ".rst", ".txt", ".h", ".hpp", ".c", ".cc", ".cpp",
                 ".cu", ".cuh", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".tex", ".sh", ".r", ".java", ".go",
                 ".rs", ".f90", ".pl", ".pm", ".pod", ".sql", ".css", ".vim", ".el", ".m4", ".inc"}
TEXT_NAMES = re.compile(r"^(METADATA|PKG-INFO|README|LICEN[CS]E|COPYING|NOTICE|AUTHORS|CHANGES|CHANGELOG|"
                        r"HISTORY|NEWS|copyright|changelog)([.-].*)?$", re.I)
_PARA = re.compile(r"\n[ \t]*\n")


def _venv_site() -> list[Path]:
    return sorted({Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()})


def roots() -> list[tuple[str, Path]]:
    """(source name, folder) of every text root this machine has."""
    out = [("site-packages", p) for p in _venv_site()]
    stdlibs = {Path(sysconfig.get_paths()["stdlib"])} | {p for p in Path("/usr/lib").glob("python3*")}
    out += [("stdlib", p) for p in sorted(stdlibs)]
    out += [("usr-share-doc", Path("/usr/share/doc")), ("man", Path("/usr/share/man")),
            ("info", Path("/usr/share/info")), ("usr-include", Path("/usr/include"))]
    out += [("perl", p) for p in sorted(Path("/usr/share").glob("perl*")) + sorted(
        Path("/usr/lib/x86_64-linux-gnu").glob("perl*"))]
    out += [("vim", Path("/usr/share/vim")), ("google-cloud-sdk", Path("/usr/lib/google-cloud-sdk"))]
    out = [(name, p) for name, p in out if p.is_dir()]
    # a JDK's src.zip is read member by member; two JDK folders can link to one archive
    zips = {p.resolve(): p for p in sorted(Path("/usr/lib/jvm").glob("*/lib/src.zip")) if p.exists()}
    return out + [("jdk-src", p) for p in zips]


def _wanted(path: Path, source: str) -> bool:
    if source in ("man", "usr-share-doc", "info"):
        return True
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return Path(name).suffix.lower() in TEXT_SUFFIXES or bool(TEXT_NAMES.match(name))


def input_files() -> list[tuple[str, Path, int, int]]:
    """(source, path, size, mtime) of every candidate file, sorted by path."""
    found = {}
    for source, root in roots():
        if root.is_file():
            st = root.stat()
            found.setdefault(str(root), (source, root, st.st_size, int(st.st_mtime)))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                p = Path(dirpath) / f
                if not _wanted(p, source):
                    continue
                try:
                    st = p.stat()
                except OSError:
                    continue
                if p.is_file() and 0 < st.st_size <= MAX_FILE_BYTES:
                    found.setdefault(str(p.resolve()), (source, p, st.st_size, int(st.st_mtime)))
    if SHARED.is_dir():
        for p in sorted(SHARED.rglob("*.jsonl*")):
            st = p.stat()
            found.setdefault(str(p), (f"shared:{p.parent.relative_to(SHARED)}", p, st.st_size, int(st.st_mtime)))
    return [found[k] for k in sorted(found)]


def read_texts(source: str, path: Path):
    """The texts of one file: its decoded content, or each record's text for the shared jsonl files."""
    if path.suffix == ".zip":
        yield from _zip_texts(source, path)
        return
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            return
    if source.startswith("shared:"):
        # records shorter than a piece (the LID sets' single sentences) run together, in file order, into one
        # text that pieces() cuts like any other: a document of consecutive sentences, not one sentence
        short: list[str] = []
        for line in raw.decode("utf-8", "replace").split("\n"):  # not splitlines: U+2028 sits inside strings
            try:
                rec = json.loads(line) if line.strip() else {}
            except json.JSONDecodeError:
                continue  # a cut-off line (a sample file truncated at a size): the others still count
            text = (rec.get("text") or rec.get("expected_text")) if isinstance(rec, dict) else None
            if not isinstance(text, str):
                continue
            if len(text) >= PIECE_MIN:
                yield text
            else:
                short.append(text)
        if short:
            yield "\n\n".join(short)
        return
    if b"\x00" in raw:
        return  # binary
    try:
        yield raw.decode("utf-8")
    except UnicodeDecodeError:
        return


def _zip_texts(source: str, path: Path):
    """Each wanted member of an archive, in name order, as one text (undecodable or binary members skipped)."""
    with zipfile.ZipFile(path) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            if info.is_dir() or not 0 < info.file_size <= MAX_FILE_BYTES or not _wanted(Path(info.filename), source):
                continue
            raw = z.read(info)
            if b"\x00" in raw:
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                continue


def pieces(text: str, rng: random.Random) -> list[str]:
    """Cut a text at blank lines into verbatim pieces of about a drawn target length each (a piece longer than
    twice its target, one huge paragraph, is cut at line ends).

    >>> [len(p) for p in pieces("a" * 10 + "\\n\\n" + "b" * 10, random.Random(0))]
    [22]
    """
    out, start, target = [], 0, _target(rng)
    for end in [m.end() for m in _PARA.finditer(text)] + [len(text)]:
        if end - start < target and end < len(text):
            continue
        chunk = text[start:end]
        out += _cut_lines(chunk, target) if len(chunk) > 2 * target else [chunk]
        start, target = end, _target(rng)
    return [p.strip() for p in out if p.strip()]


def _target(rng: random.Random) -> int:
    return int(math.exp(rng.uniform(math.log(PIECE_MIN), math.log(PIECE_MAX))))


def _cut_lines(chunk: str, target: int) -> list[str]:
    out, cur, size = [], [], 0
    for line in chunk.splitlines(keepends=True):
        cur.append(line)
        size += len(line)
        if size >= target:
            out.append("".join(cur))
            cur, size = [], 0
    if cur:
        out.append("".join(cur))
    return out


def token_count(text: str) -> int:
    """Tokens as gristmill's MinHash counts them (words, or characters for no-space scripts)."""
    return len(word_chars(text.lower())) if uses_chars(text) else len(words(text))


def fingerprint(files: list[tuple[str, Path, int, int]]) -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(repr((PIECE_MIN, PIECE_MAX, MIN_WORDS, SEED, SHARDS, MAX_FILE_BYTES, ROUND_ONE)).encode())
    for source, path, size, mtime in files:
        h.update(f"{source}\t{path}\t{size}\t{mtime}\n".encode())
    return h.hexdigest()[:16]


def iter_documents(files, stats: Counter, chars: Counter):
    """Distinct pieces in the seeded file order, each {id, text, source, origin}. A first round takes at most
    `ROUND_ONE` pieces of each text, so a small corpus is not a few long files; a second round the rest."""
    order = list(files)
    random.Random(SEED).shuffle(order)
    seen: set[bytes] = set()
    for first in (True, False):
        for source, path, _, _ in order:
            try:
                texts = list(read_texts(source, path))
            except OSError:
                stats["files unreadable"] += first
                continue
            if not texts:
                stats["files binary, not UTF-8 or empty"] += first
                continue
            for t_i, text in enumerate(texts):
                # seeded by the content: a file installed twice (two Pythons) cuts the same way, so its second
                # copy's pieces are exact duplicates and go, instead of overlapping near-duplicates staying
                rng = random.Random(hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest())
                cut = pieces(text, rng)
                span = range(min(ROUND_ONE, len(cut))) if first else range(ROUND_ONE, len(cut))
                for p_i in span:
                    piece = cut[p_i]
                    if token_count(piece) < MIN_WORDS:
                        stats[f"pieces under {MIN_WORDS} tokens"] += 1
                        continue
                    key = hashlib.blake2b(piece.encode("utf-8", "surrogatepass"), digest_size=16).digest()
                    if key in seen:
                        stats["pieces exact duplicates"] += 1
                        continue
                    seen.add(key)
                    chars[source] += len(piece)
                    yield {"id": f"{len(seen) - 1:08d}", "text": piece, "source": source,
                           "origin": f"{path}#{t_i}.{p_i}"}


def build(n: int, force: bool = False) -> Path:
    """The folder of the n-document corpus (built when missing or stale); raises when the machine has fewer
    than n distinct pieces."""
    folder = CACHE / f"corpus-{n}"
    files = input_files()
    fp = fingerprint(files)
    manifest = folder / "manifest.json"
    if not force and manifest.exists() and json.loads(manifest.read_text()).get("fingerprint") == fp:
        return folder
    t0 = time.time()
    tmp = CACHE / f".corpus-{n}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    stats, chars, by_source = Counter(), Counter(), Counter()
    outs = [open(tmp / f"part-{k}.jsonl", "w", encoding="utf-8") for k in range(SHARDS)]
    done = 0
    try:
        for doc in iter_documents(files, stats, chars):
            outs[done % SHARDS].write(json.dumps(doc, ensure_ascii=False) + "\n")
            by_source[doc["source"]] += 1
            done += 1
            if done == n:
                break
    finally:
        for fh in outs:
            fh.close()
    if done < n:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"only {done:,} distinct documents of >= {MIN_WORDS} tokens on this machine, {n:,} asked; "
                         f"lower PIECE_MIN/PIECE_MAX in {__file__} or add text roots")
    total = sum(chars.values())
    (tmp / "manifest.json").write_text(json.dumps({
        "n": n, "fingerprint": fp, "built": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "build_seconds": round(time.time() - t0, 1), "characters": total,
        "mean_characters": round(total / n, 1), "piece_rule": {"min": PIECE_MIN, "max": PIECE_MAX,
                                                             "min_tokens": MIN_WORDS, "seed": SEED},
        "candidate_files": len(files), "documents_by_source": dict(by_source.most_common()),
        "characters_by_source": dict(chars.most_common()), "dropped": dict(stats)}, indent=1) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def jsonl_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.jsonl"))


def read_docs(folder: Path) -> list[dict]:
    """All documents of a corpus in id order (for benchmarks that time an in-process function)."""
    docs = []
    for f in jsonl_files(folder):
        with open(f, encoding="utf-8") as fh:
            docs += [json.loads(line) for line in fh]
    return sorted(docs, key=lambda d: d["id"])


def version(folder: Path) -> str:
    """The corpus' fingerprint (name derived files with it, so they go stale with the corpus)."""
    return json.loads((folder / "manifest.json").read_text())["fingerprint"]


def describe(folder: Path) -> str:
    """One line for a results table: size and provenance mix."""
    m = json.loads((folder / "manifest.json").read_text())
    mix = ", ".join(f"{k} {v / m['n']:.0%}" for k, v in m["documents_by_source"].items() if v / m["n"] >= 0.01)
    return (f"{m['n']:,} distinct real documents (mean {m['mean_characters']:,.0f} chars; {mix}; "
            f"corpus {m['fingerprint']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", required=True)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    for n in args.n:
        folder = build(n, args.force)
        print(folder, describe(folder))
        print((folder / "manifest.json").read_text())


if __name__ == "__main__":
    main()
