"""url_filter: drop documents whose URL's domain, or a word in the URL, is on a blocklist (as CulturaX
does with the UT1 lists). Lists are plain text files, one entry per line, `#` comments allowed.

A domain entry blocks that host and its subdomains (`example.com` blocks `www.example.com`). A word
entry blocks URLs containing it as a token between separators (`casino` blocks `/best-casino-2020`).
Rows without a URL are kept.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import DROP_REASON, FILE, BatchStage, StageConfig, StageError

REASON = "url:blocklist"
_TOKENS = re.compile(r"[a-z0-9]+")


class UrlFilterConfig(StageConfig):
    domain_lists: list[str] = Field(default_factory=list, description="files of blocked domains",
                                    json_schema_extra=FILE)
    word_lists: list[str] = Field(default_factory=list, description="files of blocked URL words",
                                  json_schema_extra=FILE)


def read_list(path: str, what: str) -> set[str]:
    p = Path(path)
    if not p.is_file():
        raise StageError(f"url_filter.{what}: blocklist file {p} does not exist; fix the path or remove it "
                         f"from the config")
    out = set()
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        entry = line.split("#", 1)[0].strip().lower()
        if entry:
            out.add(entry)
    return out


def host_of(url: str) -> str:
    """
    >>> host_of("HTTPS://User@WWW.Example.com:8080/x")
    'www.example.com'
    """
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def blocked(url: str | None, domains: set[str], words: set[str]) -> bool:
    """
    >>> blocked("http://ads.spam.net/a", {"spam.net"}, set()), blocked("http://x.org/free-casino", set(), {"casino"})
    (True, True)
    >>> blocked("http://notspam.net/", {"spam.net"}, set()), blocked(None, {"spam.net"}, {"casino"})
    (False, False)
    """
    if not url:
        return False
    host = host_of(url)
    parts = host.split(".")
    if any(".".join(parts[i:]) in domains for i in range(len(parts))):
        return True
    return bool(words) and any(tok in words for tok in _TOKENS.findall(url.lower()))
class UrlFilter(BatchStage):
    name = "url_filter"
    Config = UrlFilterConfig
    requires = ("id", "url")

    def preflight(self) -> None:
        self.setup()
        if not self.domains and not self.words:
            raise StageError("url_filter: the blocklists are empty; list files in domain_lists or word_lists")

    def setup(self) -> None:
        self.domains = set().union(*[read_list(p, "domain_lists") for p in self.config.domain_lists])
        self.words = set().union(*[read_list(p, "word_lists") for p in self.config.word_lists])

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        urls = batch.column("url_normalized" if "url_normalized" in batch.schema.names else "url").to_pylist()
        reasons = [REASON if blocked(u, self.domains, self.words) else None for u in urls]
        return self.emit(batch, {DROP_REASON: reasons})
