"""urls: a normalized URL plus host, registered domain and public suffix (TLD) columns; dedup_url: one
document per normalized URL, the latest fetch.

Normalization is RFC 3986 section 6.2.2 syntax-based normalization (lower-case scheme and host, IDNA host,
percent-encodings upper-cased and unreserved ones decoded, dot segments removed, default port dropped,
empty path -> "/") plus what crawl dedup needs beyond the RFC (CulturaX, RedStone and FineWeb dedup by URL):
the fragment and user info are dropped, tracking parameters (utm_*, gclid, fbclid, ...) removed and the
remaining query parameters sorted. `sort_query: false` and `tracking_params: []` give the RFC's
semantics-preserving form; `drop_www: true` also merges www.example.com with example.com.

The registered domain and suffix come from the Public Suffix List snapshot bundled with tldextract (no
network): forums.bbc.co.uk -> domain bbc.co.uk, tld co.uk.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import DROP_REASON, BatchStage, FitStage, StageConfig, worker_cached

TRACKING = ("utm_*", "gclid", "dclid", "gbraid", "wbraid", "fbclid", "msclkid", "yclid", "mc_cid", "mc_eid",
            "_ga", "_gl", "igshid", "ref_src", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
            "vero_id", "wickedid", "twclid", "ttclid", "srsltid")
_DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21"}
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _pct(part: str) -> str:
    """Upper-case percent-encodings and decode those of unreserved characters (RFC 3986 6.2.2.2).

    >>> _pct("/a%7ez%2fb%e2%82%ac")
    '/a~z%2Fb%E2%82%AC'
    """
    def fix(m):
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()
    return _PCT.sub(fix, part)


def _dot_segments(path: str) -> str:
    """RFC 3986 5.2.4.

    >>> _dot_segments("/a/b/../c/./d"), _dot_segments("/a/.."), _dot_segments("/a/b/")
    ('/a/c/d', '/', '/a/b/')
    """
    out: list[str] = []
    segs = path.split("/")
    for i, seg in enumerate(segs[1:], 1):
        last = i == len(segs) - 1
        if seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif seg == ".":
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def _tracking(name: str, params: tuple[str, ...]) -> bool:
    n = name.lower()
    return any(n.startswith(p[:-1]) if p.endswith("*") else n == p for p in params)


def normalize_url(url: str | None, *, drop_www: bool = False, sort_query: bool = True,
                  tracking_params: tuple[str, ...] = TRACKING) -> str | None:
    """The normalized form of an absolute http(s)/ftp URL, or None when it is not one.

    >>> normalize_url("HTTP://WWW.Example.COM:80/a/./b/../c?utm_source=x&b=2&a=1#top")
    'http://www.example.com/a/c?a=1&b=2'
    >>> normalize_url("https://user:pw@Bücher.de?"), normalize_url("/relative/path"), normalize_url("mailto:x@y")
    ('https://xn--bcher-kva.de/', None, None)
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https", "ftp") or not host:
        return None
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # keep the lower-cased Unicode host
    if drop_www and host.startswith("www."):
        host = host[4:]
    netloc = host if port is None or str(port) == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = _dot_segments(_pct(parts.path)) if parts.path else "/"
    pairs = [p for p in parts.query.split("&") if p]
    pairs = [_pct(p) for p in pairs if not _tracking(p.split("=", 1)[0], tracking_params)]
    if sort_query:
        pairs.sort()
    return urlunsplit((scheme, netloc, path, "&".join(pairs), ""))


def _extractor():
    import tldextract
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the bundled snapshot, offline


def domain_parts(host: str | None, extract=None) -> tuple[str | None, str | None]:
    """(registered domain, public suffix) of a host; an IP address or a bare name has no suffix.

    >>> domain_parts("forums.news.bbc.co.uk"), domain_parts("10.0.0.1")
    (('bbc.co.uk', 'co.uk'), ('10.0.0.1', None))
    """
    if not host:
        return None, None
    r = (extract or _extractor())(host)
    if not r.suffix:
        return r.domain or None, None
    return (f"{r.domain}.{r.suffix}" if r.domain else r.suffix), r.suffix


class UrlsConfig(StageConfig):
    drop_www: bool = Field(False, description="also merge www.host with host")
    sort_query: bool = Field(True, description="sort query parameters (false: keep their order, as RFC 3986)")
    tracking_params: list[str] = Field(list(TRACKING), description="query parameters to drop; `x_*` is a prefix")


class Urls(BatchStage):
    """Adds url_normalized, url_host, url_domain, url_tld; rows without a valid URL keep nulls (never dropped)."""
    name = "urls"
    Config = UrlsConfig
    requires = ("id", "url")
    produces = {"url_normalized": "string", "url_host": "string", "url_domain": "string", "url_tld": "string"}

    def setup(self) -> None:
        self.extract = worker_cached("tldextract", _extractor)

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        c = self.config
        params = tuple(c.tracking_params)
        norm, host, dom, tld = [], [], [], []
        for url in batch.column("url").to_pylist():
            n = normalize_url(url, drop_www=c.drop_www, sort_query=c.sort_query, tracking_params=params)
            h = urlsplit(n).hostname if n else None
            d, t = domain_parts(h, self.extract)
            norm.append(n), host.append(h), dom.append(d), tld.append(t)
        return self.emit(batch, {"url_normalized": norm, "url_host": host, "url_domain": dom, "url_tld": tld})


class DedupUrlConfig(StageConfig):
    date_column: str | None = Field("warc_date", description="fetch date (ISO 8601); the latest is kept. "
                                                             "null: keep the smallest id")


class DedupUrl(FitStage):
    """Keep one document per url_normalized: the latest by date_column, ties and undated rows by smallest id.
    Rows without a normalized URL are kept. Works on a narrow (id, url, date) table, so texts never shuffle."""
    name = "dedup_url"
    Config = DedupUrlConfig
    produces = {"url_duplicate_of": "string"}  # dedup_exact's duplicate_of may follow

    def required_columns(self) -> tuple[str, ...]:
        return ("id", "url_normalized") + ((self.config.date_column,) if self.config.date_column else ())

    def fit(self, df) -> None:
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        date = (F.try_to_timestamp(F.col(self.config.date_column).cast("string"))
                if self.config.date_column else F.lit(None).cast("timestamp"))
        narrow = df.where(F.col("url_normalized").isNotNull()).select("id", "url_normalized", date.alias("_date"))
        w = Window.partitionBy("url_normalized").orderBy(F.col("_date").desc_nulls_last(), F.col("id"))
        dups = self.save_artifact(narrow.withColumn("_rank", F.row_number().over(w))
                                  .withColumn("_rep", F.first("id").over(w))
                                  .where(F.col("_rank") > 1)
                                  .select("id", F.col("_rep").alias("url_duplicate_of")), "duplicates")
        self._removed = dups.count()

    def tag(self, df):
        from pyspark.sql import functions as F
        out = self.join_artifact(df.drop("url_duplicate_of") if "url_duplicate_of" in df.columns else df,
                                 "duplicates")
        return out.withColumn(DROP_REASON, F.when(F.col("url_duplicate_of").isNotNull(), F.lit("dup:url")))

    def stats(self) -> dict:
        return {"duplicates": self._removed, "date_column": self.config.date_column}
