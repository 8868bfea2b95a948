"""The quickstart corpus: text every Python install already has, written by people.

Four natural domains, named by `source`: package descriptions (READMEs, `package_description` and
`package_summary`), their licence files (`package_license`), the standard library's documentation topics
(`python_docs`, from pydoc_data) and a sample of the standard library's own source code (`python_code`).
It is messy and duplicated the way web text is: the same Apache/MIT/BSD licence appears dozens of times,
READMEs carry badges, HTML, code and tables, some descriptions are empty.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import sysconfig
from importlib import metadata
from pathlib import Path

# The standard library holds ~700 modules (~11 MB); a fixed sample keeps the quickstart to minutes on 2 cores.
CODE_FILES = 160
CODE_MIN_BYTES, CODE_MAX_BYTES = 2_000, 40_000
_SKIP_DIRS = {"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__", "lib2to3", "turtledemo"}

_LICENSE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)([.-].*)?$", re.I)


def _url(md) -> str | None:
    home = md.get("Home-page")
    if home and home != "UNKNOWN":
        return home
    for entry in md.get_all("Project-URL") or []:
        _, _, url = entry.partition(",")
        if url.strip():
            return url.strip()
    return None


def iter_documents():
    seen = set()
    # sys.path order within a name (the sort is stable): the copy Python would import comes first
    dists = sorted(metadata.distributions(), key=lambda d: (d.metadata.get("Name") or "").lower())
    for dist in dists:
        md = dist.metadata
        name = md.get("Name") or "unknown"
        version = md.get("Version") or ""
        # one package, one set of documents: an editable install is also visible as the project's own
        # *.egg-info when Python runs from its folder, and ids are per (name, version)
        if (name.lower(), version) in seen:
            continue
        seen.add((name.lower(), version))
        url = _url(md)
        desc = md.get_payload() if hasattr(md, "get_payload") else None
        desc = desc or md.get("Description") or ""
        yield {"id": f"pkg:{name}=={version}:description", "text": desc, "source": "package_description",
               "url": url, "package": name}
        summary = md.get("Summary")
        if summary:
            yield {"id": f"pkg:{name}=={version}:summary", "text": summary, "source": "package_summary",
                   "url": url, "package": name}
        for f in dist.files or []:
            if not _LICENSE_NAME.match(Path(str(f)).name):
                continue
            try:
                text = Path(dist.locate_file(f)).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            yield {"id": f"pkg:{name}=={version}:{f}", "text": text, "source": "package_license",
                   "url": url, "package": name}
    try:
        from pydoc_data.topics import topics
    except ImportError:
        topics = {}
    for key in sorted(topics):
        yield {"id": f"pydoc:{key}", "text": topics[key], "source": "python_docs",
               "url": f"https://docs.python.org/3/reference/#{key}", "package": "python"}
    version = sysconfig.get_python_version()
    for rel, path in stdlib_code():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        yield {"id": f"stdlib:{rel}", "text": text, "source": "python_code",
               "url": f"https://github.com/python/cpython/blob/{version}/Lib/{rel}", "package": "python"}


def stdlib_code(n_files: int = CODE_FILES) -> list[tuple[str, Path]]:
    """(module path, file) for a stable sample of the standard library's .py files, by hash of the path.

    Tests and vendored packages are left out; so are tiny and huge modules (a 40 KB cap keeps documents
    within what the tiny model and the embedder read anyway)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for f in root.rglob("*.py"):
        rel = f.relative_to(root)
        if _SKIP_DIRS.intersection(rel.parts) or rel.name.startswith("test_"):
            continue
        try:
            size = f.stat().st_size
        except OSError:
            continue
        if CODE_MIN_BYTES <= size <= CODE_MAX_BYTES:
            found.append((rel.as_posix(), f))
    found.sort(key=lambda t: hashlib.sha1(t[0].encode()).hexdigest())
    return sorted(found[:n_files])


def dump_python_env(target: Path) -> int:
    """Write the corpus as jsonl.gz (atomically); returns the number of documents."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    n = 0
    # mtime=0 keeps the bytes identical when nothing changed, so a rerun's input hash matches
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
        for doc in iter_documents():
            gz.write((json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8"))
            n += 1
    if target.exists() and target.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        os.replace(tmp, target)
    return n
