"""The quickstart corpus: text every Python install already has, written by people.

Package descriptions (READMEs), their licence files, and the standard library's documentation topics
(pydoc_data). It is messy and duplicated the way web text is: the same Apache/MIT/BSD licence appears
dozens of times, READMEs carry badges, HTML, code and tables, some descriptions are empty.
"""
from __future__ import annotations

import gzip
import json
import os
import re
from importlib import metadata
from pathlib import Path

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
    seen_dirs = set()
    dists = sorted(metadata.distributions(), key=lambda d: (d.metadata.get("Name") or "").lower())
    for dist in dists:
        md = dist.metadata
        name = md.get("Name") or "unknown"
        version = md.get("Version") or ""
        base = getattr(dist, "_path", None)
        if base is not None:  # one record per installed copy
            if str(base) in seen_dirs:
                continue
            seen_dirs.add(str(base))
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
