"""HTML bytes -> str (charset from the HTTP header, the page's meta tag, then detection), and the `html`
input format: a folder of .html files, one document each.

Charset order follows the WHATWG encoding sniffing algorithm (BOM, transport header, <meta>, then a guess),
with one deliberate exception: bytes that are valid UTF-8 and contain non-ASCII are read as UTF-8 whatever
the page declares, because mis-declared UTF-8 (a latin-1 header on UTF-8 bytes) is the commonest cause of
mojibake in crawls and valid multi-byte UTF-8 by accident in another charset is vanishingly rare.
"""
from __future__ import annotations

import codecs
import hashlib
import re
from typing import Iterator

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# What a browser does with these labels (WHATWG): latin-1 and ascii pages are decoded as windows-1252.
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "ascii": "cp1252",
            "us-ascii": "cp1252", "iso8859-1": "cp1252", "x-sjis": "shift_jis", "gb2312": "gb18030",
            "gbk": "gb18030"}

_errors = [0]


def _count_replace(err: UnicodeDecodeError):
    _errors[0] += err.end - err.start
    return "\ufffd", err.end


codecs.register_error("gristmill.count", _count_replace)


def charset_name(label: str | None) -> str | None:
    """A Python codec for a charset label, or None when the label is unknown.

    >>> charset_name("ISO-8859-1"), charset_name("utf8"), charset_name("x-nonsense")
    ('cp1252', 'utf-8', None)
    """
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def meta_charset(head: bytes) -> str | None:
    """The charset a page declares in <meta charset> or <meta http-equiv content=...charset=> (first 4 KB)."""
    m = _META_CHARSET.search(head[:4096])
    return charset_name(m.group(1).decode("ascii", "replace")) if m else None


def decode_html(body: bytes, header_charset: str | None = None) -> tuple[str, str, int]:
    """(text, charset used, number of undecodable bytes replaced by U+FFFD).

    >>> decode_html("café".encode("utf-8"), "iso-8859-1")[:2]
    ('café', 'utf-8')
    >>> decode_html(b"<meta charset=windows-1252>caf\\xe9")
    ('<meta charset=windows-1252>café', 'cp1252', 0)
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return _decode(body[len(bom):], name)
    declared = charset_name(header_charset) or meta_charset(body)
    if not body.isascii():
        text, _, bad = _decode(body, "utf-8")
        # valid UTF-8 wins over any label; UTF-8 with a few broken bytes stays UTF-8 unless a label says otherwise
        if bad == 0 or (declared in (None, "utf-8") and bad <= max(8, len(body) // 1000)):
            return text, "utf-8", bad
    if declared and declared != "utf-8":
        return _decode(body, declared)
    if body.isascii():
        return body.decode("ascii"), declared or "utf-8", 0
    return _decode(body, _detect(body))


def _detect(body: bytes) -> str:
    from resiliparse.parse.encoding import detect_encoding
    return charset_name(detect_encoding(body[:65536])) or "cp1252"


def _decode(body: bytes, name: str) -> tuple[str, str, int]:
    _errors[0] = 0
    text = body.decode(name, "gristmill.count")
    return text, name, _errors[0]


# -- the `html` input format: one document per file ---------------------------------------------------
def iter_html_files(cfg, path: str, rel: str) -> Iterator[dict]:
    from .. import storage
    from .readers import _fail
    with storage.open_input(path) as fh:
        raw = fh.read()
    source = cfg.source or "html"
    row = {"id": hashlib.sha1(f"{source}\x00{rel}".encode()).hexdigest()[:20], "source": source, "url": None,
           "src_file": path, "src_row": 0, "content_type": "text/html"}
    if not raw.strip():
        row["text"] = None
        yield _fail(cfg, row, "read:empty", f"{path}: the file is empty")
        return
    row["text"], row["charset"], row["decode_errors"] = decode_html(raw)
    if len(raw) > cfg.max_doc_bytes:
        row["text"] = None
        row["drop_reason"] = "read:too_large"
        row["read_error"] = f"{path}: {len(raw):,} bytes is more than input.max_doc_bytes={cfg.max_doc_bytes}"
    yield row
