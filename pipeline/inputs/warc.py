"""The `warc` and `wet` input formats: one document per HTTP response (or WET conversion) record.

Parsing is fastwarc's (ISO 28500 WARC 1.0/1.1; HTTP chunking and content encodings undone). What a crawl
throws at a reader is handled here, and every case is a row (nothing vanishes):

- a record the parser cannot read (bad header, a content-length shorter or longer than the record, a
  truncated block) -> `read:warc_record` naming the file and the byte offset (decompressed for .gz), after
  which reading resumes at the next `WARC/1.x` header: one bad record never costs the rest of the file;
- a .gz that ends early or cannot be decompressed further -> `read:warc_record` at the offset it stopped;
- PDFs, images and other non-HTML payloads -> `read:non_html` (content type kept, payload not);
- HTTP errors and redirects -> `read:http_status`; a response with no body -> `read:empty`;
- an empty file -> `read:empty_file` (or an error with input.on_error: raise).

Request, metadata, warcinfo and revisit records are not documents and are skipped. The document's `text` is
the decoded HTML (as datatrove's WarcReader does), so the `extract` stage or a datatrove extractor turns it
into main text. Each file is one Spark task (a .warc.gz cannot be split without an index).
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import re
import zlib
from typing import Iterator

import pyarrow as pa

from .html import decode_html, iter_html_files

WEB_FORMATS = ("warc", "wet", "html")
HTML_TYPES = ("text/html", "application/xhtml+xml")
WEB_FIELDS = [("warc_date", pa.string()), ("warc_record_id", pa.string()), ("content_type", pa.string()),
              ("charset", pa.string()), ("decode_errors", pa.int64()), ("http_status", pa.int64())]
_HEADER = re.compile(rb"WARC/1\.[01]\r?\n")
_SCAN = 1 << 20


def web_fields(keep_fields: list[str]) -> list[tuple[str, pa.DataType]]:
    from .readers import base_fields
    return base_fields(keep_fields) + WEB_FIELDS


class _ZstdFrames:
    """A .zst file read frame after frame (Common Crawl writes one frame per record) that gives back every
    byte it could decompress and only then raises, naming a truncated or corrupt frame."""

    def __init__(self, raw):
        import zstandard
        self._zstd, self._raw = zstandard, raw
        self._dec, self._fed = zstandard.ZstdDecompressor().decompressobj(), False
        self._buf, self._pos, self._error = bytearray(), 0, None

    def _fill(self, want: int) -> None:
        while len(self._buf) < want and self._error is None:
            data = self._raw.read(1 << 16)
            if not data:
                if self._fed:
                    self._error = EOFError("the file ends inside a zstd frame (truncated)")
                else:
                    self._error = EOFError()  # a clean end
                return
            while data:
                try:
                    self._buf += self._dec.decompress(data)
                except self._zstd.ZstdError as e:
                    self._error = OSError(f"corrupt zstd data: {e}")
                    return
                self._fed = True
                if not self._dec.eof:
                    break
                data = self._dec.unused_data
                self._dec, self._fed = self._zstd.ZstdDecompressor().decompressobj(), False

    def read(self, n: int = -1) -> bytes:
        self._fill(n if n >= 0 else 1 << 62)
        if not self._buf and self._error is not None and str(self._error):
            raise self._error
        out = bytes(self._buf if n < 0 else self._buf[:n])
        del self._buf[:len(out)]
        self._pos += len(out)
        return out

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        if pos < self._pos:
            import io
            raise io.UnsupportedOperation("a zstd stream cannot seek backwards")
        while self._pos < pos and self.read(min(pos - self._pos, 1 << 20)):
            pass
        return self._pos

    def close(self) -> None:
        self._raw.close()


class _Stream:
    """A file that ends, rather than raises, where decompression fails, and remembers why and where.

    The parser reads ahead; a raise from a truncated .gz would discard the complete records in its buffer."""

    def __init__(self, path: str):
        from .. import storage  # local paths through open(), URIs (s3://...) through pyarrow.fs
        if path.endswith(".gz"):
            # decompressed offsets, so a bad record can be skipped by seeking
            self._raw = storage.open_input(path) if storage.is_uri(path) else None  # gzip leaves it open
            self.fh = gzip.open(self._raw or path, "rb")
        elif path.endswith((".zst", ".zstd")):
            self._raw = storage.open_input(path)
            self.fh = _ZstdFrames(self._raw)
        else:
            self.fh = storage.open_input(path)
        self.error: str | None = None
        self.error_at = 0

    def read(self, n: int = -1) -> bytes:
        """Up to n bytes, in small steps near a failure so that every byte before it is returned."""
        if self.error is not None:
            return b""
        out = bytearray()
        step = 1 << 16
        while n < 0 or len(out) < n:
            at = self.fh.tell()
            want = step if n < 0 else min(step, n - len(out))
            try:
                chunk = self.fh.read(want)
            except (EOFError, zlib.error, OSError) as e:
                if step > 512:  # retry the failing stretch in smaller steps
                    self.fh.seek(at)
                    step //= 16
                    continue
                self.error, self.error_at = f"{type(e).__name__}: {e}", at
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.fh.seek(pos, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.fh.close()
        if getattr(self, "_raw", None) is not None:
            self._raw.close()


def _next_header(fh, pos: int) -> int | None:
    """Offset of the first `WARC/1.x` line starting at or after pos, or None at the end of the file."""
    fh.seek(pos)
    carry = b""
    base = pos
    while True:
        chunk = fh.read(_SCAN)
        if not chunk:
            return None
        buf = carry + chunk
        for m in _HEADER.finditer(buf):
            at = base + m.start()
            if at == 0 or (m.start() > 0 and buf[m.start() - 1:m.start()] == b"\n"):
                return at
        carry = buf[-16:]
        base += len(buf) - len(carry)


def _swallowed_header(block: bytes) -> int:
    """Where a block holds the start of another record (its content-length claimed too much), else -1."""
    i = block.find(b"\nWARC/1.")
    while i >= 0:
        if re.match(rb"\nWARC/1\.[01]\r?\nWARC-[A-Za-z-]+: ", block[i:i + 64]):
            return i + 1
        i = block.find(b"\nWARC/1.", i + 1)
    return -1


def _digest_ok(digest: str | None, block: bytes) -> bool:
    """True unless the record carries a sha1 block digest that the block does not match."""
    if not digest or not digest.lower().startswith("sha1:"):
        return True
    want = digest[5:].strip()
    got = hashlib.sha1(block).digest()
    return want.upper() == base64.b32encode(got).decode() or want.lower() == got.hex()


def iter_records(path: str) -> Iterator[tuple[int, object, bytes | None, str | None]]:
    """(offset, record, payload, problem) for every record; problem names what is wrong with a bad one.

    One record is held back until the next one parses: a content-length that is too short shows only as
    garbage where the next header should be, and the fault is the held record's."""
    from fastwarc.warc import ArchiveIterator
    fh = _Stream(path)
    pos = 0
    cut = False  # a record cut short by the end of the file was reported
    try:
        while pos is not None:
            fh.seek(pos)
            held = None
            resume = None
            last = None  # offset of the last record this pass returned
            try:
                for rec in ArchiveIterator(fh, parse_http=False):
                    off = last = rec.stream_pos
                    block = rec.reader.read()
                    if held is not None:
                        yield held
                        held = None
                    k = _swallowed_header(block)
                    if k >= 0:
                        yield (off, rec, None, f"content-length {rec.content_length:,} runs into the next "
                                               f"record (a WARC header {k:,} bytes into the block)")
                        resume = off + 1
                        break
                    if len(block) < rec.content_length:
                        cut = True
                        yield (off, rec, None, f"record truncated: content-length {rec.content_length:,}, "
                                               f"only {len(block):,} bytes before the end of the file "
                                               f"(the file is truncated or corrupt"
                                               f"{': ' + fh.error if fh.error else ''})")
                        continue
                    if not _digest_ok(rec.headers.get("WARC-Block-Digest"), block):
                        # a too-short content-length cuts the block; the parser skips the rest silently
                        yield (off, rec, None, "WARC-Block-Digest does not match the block: the content-length "
                                               "is wrong or the record is corrupt")
                        continue
                    held = (off, rec, block, None)
            except (OSError, ValueError) as e:
                if fh.error is not None:
                    break
                if held is not None:
                    yield (held[0], held[1], None, f"bytes after this record are not a WARC header ({e}); "
                                                   f"its content-length is probably too short")
                    resume = held[0] + 1
                    held = None
                elif last is not None:  # the record already rejected spilled into what follows
                    resume = last + 1
                else:
                    yield (pos, None, None, f"not a WARC record ({e})")
                    resume = pos + 1
            if held is not None:
                yield held
            pos = _next_header(fh, resume) if resume is not None and fh.error is None else None
        if fh.error is not None and not cut:
            yield (fh.error_at, None, None, f"the file cannot be read past here ({fh.error}); "
                                            f"it is truncated or corrupt")
    finally:
        fh.close()


def _http(block: bytes) -> tuple[int | None, dict, bytes]:
    """Status, headers (lower-case names) and decoded payload of an HTTP response block."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    lines = head.decode("latin-1").splitlines()
    status = None
    if lines and lines[0].startswith("HTTP/"):
        parts = lines[0].split()
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    enc = headers.get("content-encoding", "").lower().strip()
    if enc in ("gzip", "x-gzip", "deflate") and body[:2] in (b"\x1f\x8b", b"\x78\x9c", b"\x78\x01", b"\x78\xda"):
        try:
            body = zlib.decompress(body, 47 if body[:2] == b"\x1f\x8b" else 15)
        except zlib.error:
            pass
    elif enc == "br":
        try:
            import brotli
            body = brotli.decompress(body)
        except Exception:  # already decoded by the crawler, or broken: keep the bytes
            pass
    return status, headers, body


def _dechunk(body: bytes) -> bytes:
    out, i = [], 0
    while i < len(body):
        j = body.find(b"\r\n", i)
        if j < 0:
            return body if not out else b"".join(out) + body[i:]
        try:
            size = int(body[i:j].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return body if not out else b"".join(out) + body[i:]  # not chunked after all
        if size == 0:
            break
        out.append(body[j + 2:j + 2 + size])
        i = j + 2 + size + 2
    return b"".join(out)


def _mime(content_type: str | None) -> tuple[str | None, str | None]:
    if not content_type:
        return None, None
    mime, _, params = content_type.partition(";")
    m = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", params, re.I)
    return mime.strip().lower() or None, m.group(1) if m else None


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--", b"<meta", b"<title"))


def iter_warc(cfg, path: str, rel: str) -> Iterator[dict]:
    from .readers import _fail, _source_name
    source = cfg.source or _source_name(rel)
    wet = cfg.format == "wet"
    count = 0
    seen_any = False
    for off, rec, block, problem in iter_records(path):
        seen_any = True
        rtype = str(rec.record_type).rsplit(".", 1)[-1] if rec is not None else None
        h = rec.headers if rec is not None else {}
        if rec is not None and rtype not in (("conversion",) if wet else ("response",)):
            continue
        rid = h.get("WARC-Record-ID")
        row = {"id": rid.strip("<>") if rid else hashlib.sha1(f"{source}\x00{rel}\x00{off}".encode()).hexdigest()[:20],
               "source": source, "url": (h.get("WARC-Target-URI") or "").strip("<>") or None, "src_file": path,
               "src_row": off,
               "warc_date": h.get("WARC-Date"), "warc_record_id": rid, "text": None}
        where = f"{path}: record at byte {off:,}" + (" (decompressed)" if path.endswith(".gz") else "")
        if problem is not None:
            yield _fail(cfg, row, "read:warc_record", f"{where}: {problem}")
        else:
            yield from _document(cfg, row, block, wet, where, h)
        count += 1
        if cfg.limit and count >= cfg.limit:
            return
    if not seen_any:
        row = {"id": hashlib.sha1(f"{source}\x00{rel}\x00empty".encode()).hexdigest()[:20], "source": source,
               "src_file": path, "src_row": 0, "text": None}
        yield _fail(cfg, row, "read:empty_file", f"{path}: no WARC records (the file is empty)")


def _document(cfg, row: dict, block: bytes, wet: bool, where: str, warc_headers) -> Iterator[dict]:
    if wet:
        mime, charset = _mime(warc_headers.get("Content-Type")) if warc_headers else (None, None)
        row["content_type"], body = mime or "text/plain", block
    else:
        status, headers, body = _http(block)
        row["http_status"] = status
        mime, charset = _mime(headers.get("content-type"))
        row["content_type"] = mime
        if status is None or not 200 <= status < 300:
            row["drop_reason"], row["read_error"] = "read:http_status", f"{where}: HTTP status {status}"
            yield row
            return
        if mime not in HTML_TYPES and not (mime in (None, "text/plain", "application/octet-stream")
                                           and _sniff_html(body)):
            row["drop_reason"] = "read:non_html"
            row["read_error"] = f"{where}: payload is {mime or 'untyped'} ({len(body):,} bytes), not HTML"
            yield row
            return
    if not body.strip():
        row["drop_reason"], row["read_error"] = "read:empty", f"{where}: the response has no body"
        yield row
        return
    if len(body) > cfg.max_doc_bytes:
        row["drop_reason"] = "read:too_large"
        row["read_error"] = f"{where}: {len(body):,} bytes is more than input.max_doc_bytes={cfg.max_doc_bytes}"
        yield row
        return
    row["text"], row["charset"], row["decode_errors"] = decode_html(body, charset)
    yield row


def iter_web(cfg, path: str, rel: str) -> Iterator[dict]:
    if cfg.format == "html":
        return iter_html_files(cfg, path, rel)
    return iter_warc(cfg, path, rel)


# -- Spark ------------------------------------------------------------------------------------------
def _batches(cfg, tasks) -> Iterator[pa.RecordBatch]:
    from .readers import BATCH_BYTES, BATCH_ROWS
    schema = pa.schema(web_fields(cfg.keep_fields))
    names = schema.names
    cols, nbytes = {n: [] for n in names}, 0
    for path, rel, _start, _end in tasks:
        for row in iter_web(cfg, path, rel):
            for n in names:
                cols[n].append(row.get(n))
            nbytes += len(row.get("text") or "")
            if len(cols["id"]) >= BATCH_ROWS or nbytes >= BATCH_BYTES:
                yield pa.RecordBatch.from_pydict(cols, schema=schema)
                cols, nbytes = {n: [] for n in names}, 0
    if cols["id"]:
        yield pa.RecordBatch.from_pydict(cols, schema=schema)


def _spark_fn(cfg_json: str, rows_acc=None):
    from .. import storage
    opts = storage.options()  # endpoints set on the driver reach the workers

    def fn(batches):
        from ..config import InputConfig
        storage.apply_options(opts)
        cfg = InputConfig.model_validate_json(cfg_json)
        for batch in batches:
            tasks = list(zip(*(batch.column(i).to_pylist() for i in range(4))))
            for out in _batches(cfg, tasks):
                if rows_acc is not None:
                    rows_acc.add(out.num_rows)
                yield out
    return fn


def read_web(spark, cfg, rows_acc=None):
    """A DataFrame of web documents: read tasks packed by bytes (readers.task_frame)."""
    from .readers import task_frame
    names = {pa.string(): "string", pa.int64(): "bigint"}
    schema = ", ".join(f"`{n}` {names[t]}" for n, t in web_fields(cfg.keep_fields))
    tdf = task_frame(spark, cfg)
    return tdf.mapInArrow(_spark_fn(cfg.model_dump_json(), rows_acc), schema)
