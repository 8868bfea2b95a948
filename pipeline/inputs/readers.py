"""Readers: files -> Arrow batches of documents (id, text, source, url, ...), run inside Spark tasks.

The per-file code is plain Python so it is testable without Spark; `read_input` (sources.py) spreads files (and byte
ranges of large plain jsonl files) over Spark tasks with mapInArrow, so no document passes the driver. The
runner's read stage does the same but has the tasks write their rows themselves (readstage.py).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import zlib
from pathlib import Path
from typing import Iterator

import orjson
import pyarrow as pa

from .. import storage
from ..config import ConfigError, InputConfig

SPLIT_BYTES = 256 * 1024 * 1024  # plan_tasks' default: plain jsonl files larger than this are read by several tasks
MAX_TASK_BYTES = 128 * 1024 * 1024  # a read task (and so one output file) holds at most about this many input bytes
MIN_TASK_BYTES = 4 * 1024 * 1024  # below this, more tasks cost more (scheduling, one file each) than they gain
BATCH_ROWS = 2048
BATCH_BYTES = 64 * 1024 * 1024
EXTS = {
    "jsonl": (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".jsonl.zstd", ".ndjson"),
    "parquet": (".parquet",),
    "hf_disk": (".arrow",),
    "txt": (".txt", ".md", ".rst"),
    "warc": (".warc", ".warc.gz", ".warc.zst"), "wet": (".wet", ".wet.gz", ".warc.wet.gz"),  # web: H6
    "html": (".html", ".htm", ".xhtml"),
}


WEB_FORMATS = ("warc", "wet", "html")


class ReadError(ConfigError):
    pass


def base_fields(keep_fields: list[str]) -> list[tuple[str, pa.DataType]]:
    f = [("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("url", pa.string())]
    f += [(k, pa.string()) for k in keep_fields]
    f += [("src_file", pa.string()), ("src_row", pa.int64()), ("drop_reason", pa.string()),
          ("read_error", pa.string())]
    return f


def arrow_schema(cfg: InputConfig) -> pa.Schema:
    return pa.schema(base_fields(cfg.keep_fields))


def spark_schema(cfg: InputConfig) -> str:
    names = {pa.string(): "string", pa.int64(): "bigint"}
    return ", ".join(f"`{n}` {names[t]}" for n, t in base_fields(cfg.keep_fields))


# -- finding files ---------------------------------------------------------------------------------
def list_files(cfg: InputConfig) -> list[tuple[str, str]]:
    """(absolute path, path relative to the input root) for every input file, sorted.

    The root is input.root, else the deepest folder holding every input path (a folder given, a file's
    folder, a glob's fixed part), so dumpA/part-00000.jsonl and dumpB/part-00000.jsonl keep their folder in
    ids and sources whether given as one folder or two."""
    if not cfg.path:
        raise ReadError("input.path is required for format " + cfg.format)
    found: list[str] = []
    roots: list[str] = []
    for spec in cfg.path:
        if storage.is_uri(spec):
            files, root = _list_uri(cfg, spec)
            found += files
            roots.append(root)
            continue
        spec = os.path.expanduser(str(storage.path(spec)) if spec.startswith("file://") else spec)
        p = Path(spec)
        if cfg.format == "hf_disk" and p.is_dir():
            files = sorted(str(x) for x in p.rglob("*.arrow") if not x.name.startswith("cache-"))
            roots.append(str(p))
        elif p.is_dir():
            files = sorted(str(x) for x in p.rglob("*") if x.is_file() and x.name.endswith(EXTS[cfg.format]))
            roots.append(str(p))
        elif p.is_file():
            files = [str(p)]
            roots.append(str(p.parent))
        else:
            files = sorted(x for x in glob.glob(spec, recursive=True) if os.path.isfile(x))
            fixed = re.split(r"[*?\[]", spec, maxsplit=1)[0]
            roots.append(fixed if fixed.endswith(os.sep) else os.path.dirname(fixed) or ".")
        if not files:
            raise ReadError(f"input path '{spec}' matches no {cfg.format} files; check input.path and input.format")
        found += [os.path.abspath(f) for f in files]
    found = sorted(dict.fromkeys(found))
    if any(storage.is_uri(f) for f in found) or (cfg.root and storage.is_uri(cfg.root)):
        return _relative_uris(cfg, found, roots)
    if cfg.root:
        root = os.path.abspath(os.path.expanduser(str(storage.path(cfg.root))))
        outside = [f for f in found if os.path.commonpath([root, f]) != root]
        if outside:
            raise ReadError(f"input file {outside[0]} is not inside input.root {root}; set root to a folder "
                            f"that holds every input, or leave it unset")
    else:
        root = os.path.commonpath([os.path.abspath(r) for r in roots])
    return [(f, os.path.relpath(f, root)) for f in found]


def _list_uri(cfg: InputConfig, spec: str) -> tuple[list[str], str]:
    """The files a URI names (a folder, a file, or a glob over keys) and the root it gives, as URIs."""
    p = storage.path(spec)
    if cfg.format == "hf_disk" and p.is_dir():
        files = [x for x in p.rglob("*.arrow") if not x.name.startswith("cache-")]
        root = p
    elif p.is_dir():
        files = [x for x in p.rglob("*") if x.name.endswith(EXTS[cfg.format]) and x.is_file()]
        root = p
    elif p.is_file():
        files, root = [p], p.parent
    else:
        fixed = re.split(r"[*?\[]", spec, maxsplit=1)[0]
        if fixed == spec:
            files, root = [], p.parent
        else:
            base = fixed.rsplit("/", 1)[0]
            root = storage.path(base)
            files = [x for x in root.glob(spec[len(base):].lstrip("/")) if x.is_file()]
    if not files:
        raise ReadError(f"input path '{spec}' matches no {cfg.format} files; check input.path and input.format "
                        f"(and that the store is reachable with these credentials)")
    for x in files:  # sizes and times from the listing: no request per file when planning tasks
        _LISTED[x.uri] = x.stat()
    return [x.uri for x in files], root.uri


_LISTED: dict = {}  # URI -> its stat from the latest listing


def _pseudo(u: str) -> str:
    """A URI as a posix path (/s3:/bucket/key) so commonpath/relpath work across local and remote files."""
    if storage.is_uri(u):
        scheme, rest = u.split("://", 1)
        return f"/{storage.path(u).scheme}:/{rest}".rstrip("/")
    return os.path.abspath(os.path.expanduser(u))


def _relative_uris(cfg: InputConfig, found: list[str], roots: list[str]) -> list[tuple[str, str]]:
    if cfg.root:
        root = _pseudo(cfg.root)
        outside = [f for f in found if os.path.commonpath([root, _pseudo(f)]) != root]
        if outside:
            raise ReadError(f"input file {outside[0]} is not inside input.root {cfg.root}; set root to a folder "
                            f"that holds every input, or leave it unset")
    else:
        root = os.path.commonpath([_pseudo(r) for r in roots])
    return [(f, os.path.relpath(_pseudo(f), root)) for f in found]


def _stat(path: str):
    if storage.is_uri(path):
        return _LISTED.get(path) or storage.path(path).stat()
    return os.stat(path)


def _sized_files(cfg: InputConfig) -> list[tuple[str, str, int]]:
    return [(path, rel, _stat(path).st_size) for path, rel in list_files(cfg)]


def _split(cfg: InputConfig, files, task_bytes: int) -> list[tuple[str, str, int, int, int]]:
    """(path, relpath, start, end, bytes) read tasks; end=-1 means to the end of the file. A plain jsonl file
    larger than task_bytes is cut into byte ranges (a task reads the lines that start inside its range)."""
    tasks = []
    for path, rel, size in files:
        plain_jsonl = cfg.format == "jsonl" and not path.endswith((".gz", ".zst", ".zstd"))
        if plain_jsonl and size > task_bytes and cfg.limit is None:
            for start in range(0, size, task_bytes):
                end = min(start + task_bytes, size)
                tasks.append((path, rel, start, end, end - start))
        else:
            tasks.append((path, rel, 0, -1, size))
    return tasks


def plan_tasks(cfg: InputConfig, task_bytes: int | None = None) -> list[tuple[str, str, int, int]]:
    """(path, relpath, start, end) read tasks, one per file or byte range; end=-1 means to the end."""
    return [t[:4] for t in _split(cfg, _sized_files(cfg), task_bytes or SPLIT_BYTES)]


def task_bytes_for(total: int, parallelism: int) -> int:
    """Input bytes per read task: about two tasks per core, within [MIN_TASK_BYTES, MAX_TASK_BYTES]."""
    return min(MAX_TASK_BYTES, max(MIN_TASK_BYTES, total // max(1, 2 * parallelism)))


def pack_tasks(tasks, target: int) -> list[list[tuple[str, str, int, int]]]:
    """Consecutive (path, rel, start, end, bytes) tasks grouped up to `target` bytes, in their listed order: a
    folder of small files becomes a few tasks (and a few output files), not one per file."""
    groups: list[list[tuple[str, str, int, int]]] = []
    cur: list[tuple[str, str, int, int]] = []
    cur_bytes = 0
    for *task, nbytes in tasks:
        if cur and cur_bytes + nbytes > target:
            groups.append(cur)
            cur, cur_bytes = [], 0
        cur.append(tuple(task))
        cur_bytes += max(nbytes, 1)
    if cur:
        groups.append(cur)
    return groups


def task_frame(spark, cfg: InputConfig):
    """A DataFrame of read tasks, one Spark partition per packed group (planned by bytes, not by files)."""
    files = _sized_files(cfg)
    target = task_bytes_for(sum(size for *_, size in files), spark.sparkContext.defaultParallelism)
    groups = pack_tasks(_split(cfg, files, target), target)
    rdd = spark.sparkContext.parallelize(groups, max(1, len(groups))).flatMap(lambda g: g)
    return spark.createDataFrame(rdd, "path string, rel string, start bigint, end bigint")


def input_fingerprint(cfg: InputConfig) -> list:
    return [(p, st.st_size, int(st.st_mtime)) for p, _ in list_files(cfg) for st in [_stat(p)]]


# -- per-file reading ------------------------------------------------------------------------------
def _doc_id(rel: str, row_key) -> str:
    """Auto-id: the file's path relative to the input root and the row's offset (never the basename, which
    repeats across folders: part-00000.jsonl)."""
    return hashlib.sha1(f"{rel}\x00{row_key}".encode()).hexdigest()[:20]


_EXTS_LONGEST_FIRST = sorted({e for v in EXTS.values() for e in v}, key=len, reverse=True)


def _strip_ext(name: str) -> str:
    for ext in _EXTS_LONGEST_FIRST:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _source_name(rel: str, how: str = "path") -> str:
    if how == "folder":
        return os.path.dirname(rel).replace(os.sep, "/") or _strip_ext(os.path.basename(rel))
    if how == "name":
        return _strip_ext(os.path.basename(rel))
    return _strip_ext(rel).replace(os.sep, "/")


def _get(obj: dict, dotted: str | None):
    if not dotted:
        return None
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _as_str(v):
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)


class _Batcher:
    def __init__(self, cfg: InputConfig):
        self.cfg = cfg
        self.names = [n for n, _ in base_fields(cfg.keep_fields)]
        self.schema = arrow_schema(cfg)
        self._reset()

    def _reset(self):
        self.cols = {n: [] for n in self.names}
        self._pairs = list(self.cols.items())
        self._ids = self.cols["id"]
        self.nbytes = 0

    def add(self, row: dict) -> pa.RecordBatch | None:
        get = row.get
        for n, col in self._pairs:
            col.append(get(n))
        self.nbytes += len(get("text") or "")
        if len(self._ids) >= BATCH_ROWS or self.nbytes >= BATCH_BYTES:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        if not self._ids:
            return None
        b = pa.RecordBatch.from_arrays([pa.array(self.cols[f.name], f.type) for f in self.schema], schema=self.schema)
        self._reset()
        return b


def _fail(cfg: InputConfig, row: dict, reason: str, message: str) -> dict:
    if cfg.on_error == "raise":
        raise ReadError(f"{message}\n  (set input.on_error: reject to send such rows to rejected/ instead)")
    row["drop_reason"], row["read_error"] = reason, message
    return row


def _record_row(cfg, obj, rel, path, row_key, where, file_source: str) -> dict:
    """One document's row. file_source: the file's source name (cfg.source or from its path), computed once
    per file by the caller; where: a function that names the row's place, called only for a message."""
    source = (cfg.source or _as_str(_get(obj, cfg.source_field)) or file_source) if cfg.source_field else file_source
    given = _get(obj, cfg.id_field)
    row = {
        "id": _as_str(given) if given is not None else _doc_id(rel, row_key),
        "source": source,
        "url": _as_str(_get(obj, cfg.url_field)),
        "src_file": path,
        "src_row": row_key,
    }
    for k in cfg.keep_fields:
        row[k] = _as_str(_get(obj, k))
    text = _get(obj, cfg.text_field)
    if not isinstance(text, str):
        row["text"] = None
        got = "missing" if text is None else f"a {type(text).__name__}, not a string"
        return _fail(cfg, row, "read:missing_text", f"{where()}: text field '{cfg.text_field}' is {got}")
    row["text"] = text
    # a char is at most 4 UTF-8 bytes, so most texts skip the encode
    if len(text) * 4 > cfg.max_doc_bytes and len(text.encode("utf-8", "surrogatepass")) > cfg.max_doc_bytes:
        row["drop_reason"] = "read:too_large"
        row["read_error"] = f"{where()}: text is larger than input.max_doc_bytes={cfg.max_doc_bytes}"
    return row


class ArchiveBreak(Exception):
    """A compressed file that cannot be read to its end: cut short (truncated) or not what its name says."""

    def __init__(self, kind: str, offset: int, detail: str, partial: bytes = b""):
        super().__init__(detail)
        self.kind, self.offset, self.detail, self.partial = kind, offset, detail, partial


CHUNK = 1 << 20


def _plain_lines(path: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for the lines that start inside [start, end) of an uncompressed file."""
    with storage.open_input(path) as fh:
        offset = start
        if start > 0:  # the task owns lines that start inside [start, end)
            fh.seek(start - 1)
            if fh.read(1) != b"\n":
                offset += len(fh.readline())
        while end < 0 or offset < end:
            raw = fh.readline()
            if not raw:
                return
            yield offset, raw
            offset += len(raw)


def _decompressor(path: str):
    if path.endswith(".gz"):
        return zlib.decompressobj(wbits=31)  # 31: expect a gzip header and trailer
    import zstandard
    return zstandard.ZstdDecompressor().decompressobj()


def _archive_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """(offset in the decompressed stream, line) of a .gz or .zst file, member after member / frame after
    frame. A file that ends inside a member or frame raises ArchiveBreak('truncated'); bytes that do not
    decompress raise ArchiveBreak('corrupt_archive'); both carry the compressed offset and the partial line."""
    import zstandard
    pending, offset, pos = b"", 0, 0
    dec, fed = _decompressor(path), False  # fed: the current member/frame has consumed input
    with storage.open_input(path) as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                if fed and not dec.eof:
                    raise ArchiveBreak("truncated", pos, "the file ends before the archive's end-of-stream marker",
                                       pending)
                break
            data = chunk
            while data:
                try:
                    out = dec.decompress(data)
                except (zlib.error, zstandard.ZstdError) as e:
                    raise ArchiveBreak("corrupt_archive", pos, f"the bytes do not decompress ({e})", pending) from None
                fed = True
                data = b""
                if dec.eof:  # a member or frame ended: the rest starts a new one
                    data = dec.unused_data
                    dec, fed = _decompressor(path), False
                if out:
                    pending += out
                    *whole, pending = pending.split(b"\n")
                    for line in whole:
                        yield offset, line + b"\n"
                        offset += len(line) + 1
            pos += len(chunk)
    if pending:
        yield offset, pending


def _raw_lines(path: str, start: int, end: int):
    if path.endswith((".gz", ".zst", ".zstd")):
        return _archive_lines(path)
    return _plain_lines(path, start, end)


def iter_jsonl(cfg: InputConfig, path: str, rel: str, start: int = 0, end: int = -1) -> Iterator[dict]:
    source = cfg.source or _source_name(rel, cfg.source_from)
    lineno, count, next_offset = 0, 0, start
    lines = _raw_lines(path, start, end)
    while True:
        try:
            row_key, raw = next(lines)
        except StopIteration:
            return
        except ArchiveBreak as b:
            yield _archive_break(cfg, b, path, rel, source, lineno, count, next_offset)
            return
        lineno += 1
        next_offset = row_key + len(raw)
        if not raw.strip():  # every line is accounted for: a blank one is rejected, never an error
            yield {"id": _doc_id(rel, row_key), "source": source, "text": raw.decode("utf-8", "replace"),
                   "src_file": path, "src_row": row_key, "drop_reason": "read:blank_line",
                   "read_error": f"{path}: byte {row_key}: blank line"}
            continue
        where = (lambda n=lineno: f"{path}:{n}") if start == 0 else (lambda k=row_key: f"{path}: byte {k}")
        try:
            line = raw.decode("utf-8")  # strict, so invalid bytes are reported rather than replaced
        except UnicodeDecodeError as e:
            row = {"id": _doc_id(rel, row_key), "source": source,
                   "text": raw.decode("utf-8", "replace"), "src_file": path, "src_row": row_key}
            yield _fail(cfg, row, "read:invalid_utf8", f"{where()}: invalid UTF-8 at byte {e.start} of the line")
            continue
        try:
            obj = orjson.loads(raw)
            if not isinstance(obj, dict):
                raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        except (ValueError, orjson.JSONDecodeError) as e:
            row = {"id": _doc_id(rel, row_key), "source": source, "text": line, "src_file": path,
                   "src_row": row_key}
            yield _fail(cfg, row, "read:malformed", f"{where()}: malformed JSON line ({e})")
            continue
        yield _record_row(cfg, obj, rel, path, row_key, where, source)
        count += 1
        if cfg.limit and count >= cfg.limit:
            return


def _archive_break(cfg, b: ArchiveBreak, path, rel, source, lineno, count, offset) -> dict:
    """The rejected record that stands for everything after the break (its text: the partial line)."""
    what = "is cut short" if b.kind == "truncated" else "is corrupt or not the archive its name says"
    msg = (f"{path} {what}: {b.detail}, at compressed byte {b.offset}, after line {lineno} (the last good "
           f"line); the {count} documents before it were read and the rest of the file is missing. "
           f"Re-download or recompress the file")
    row = {"id": _doc_id(rel, f"break:{offset}"), "source": source,
           "text": b.partial.decode("utf-8", "replace") if b.partial else None, "src_file": path, "src_row": offset}
    return _fail(cfg, row, f"read:{b.kind}", msg)


def _iter_arrow_tables(cfg: InputConfig, path: str):
    remote = storage.path(path) if storage.is_uri(path) else None
    if cfg.format == "parquet":
        import pyarrow.parquet as pq
        if remote is not None:
            yield from pq.ParquetFile(remote.fs_path, filesystem=remote.fs).iter_batches(batch_size=BATCH_ROWS)
            return
        yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
    else:  # datasets' save_to_disk writes Arrow IPC streams
        with (remote.fs.open_input_file(remote.fs_path) if remote is not None else pa.memory_map(path)) as src:
            try:
                reader = pa.ipc.open_stream(src)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(src)
                for i in range(reader.num_record_batches):
                    yield reader.get_batch(i)
                return
            yield from reader


def iter_columnar(cfg: InputConfig, path: str, rel: str) -> Iterator[dict]:
    source = cfg.source or _source_name(rel, cfg.source_from)
    row_key = 0
    for batch in _iter_arrow_tables(cfg, path):
        if cfg.text_field.split(".")[0] not in batch.schema.names:
            raise ReadError(f"{path}: no column '{cfg.text_field}' (columns: {batch.schema.names}); "
                            f"set input.text_field")
        for obj in batch.to_pylist():
            yield _record_row(cfg, obj, rel, path, row_key, lambda k=row_key: f"{path}: row {k}", source)
            row_key += 1
            if cfg.limit and row_key >= cfg.limit:
                return


def iter_txt(cfg: InputConfig, path: str, rel: str) -> Iterator[dict]:
    with storage.open_input(path) as fh:
        raw = fh.read()
    source = cfg.source or (Path(rel).parts[0] if len(Path(rel).parts) > 1 else "txt")
    row = {"id": _doc_id(rel, 0), "source": source,
           "url": None, "src_file": path, "src_row": 0}
    try:
        row["text"] = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        row["text"] = raw.decode("utf-8", "replace")
        yield _fail(cfg, row, "read:invalid_utf8", f"{path}: invalid UTF-8 at byte {e.start}")
        return
    yield row


def iter_task(cfg: InputConfig, path: str, rel: str, start: int, end: int) -> Iterator[dict]:
    if cfg.format in ("jsonl", "python_env"):
        return iter_jsonl(cfg, path, rel, start, end)
    if cfg.format in ("parquet", "hf_disk"):
        return iter_columnar(cfg, path, rel)
    return iter_txt(cfg, path, rel)


def expected_rows(cfg: InputConfig, path: str, start: int, end: int) -> int | None:
    """How many rows a read task must produce, counted apart from the parser (None where only the parser can
    tell: compressed, web archives, a `limit`): the lines that start in [start, end) of a plain jsonl file,
    a Parquet file's row count from its footer, one per .txt file."""
    if cfg.limit is not None or storage.is_uri(path):
        return None
    if cfg.format == "txt":
        return 1
    if cfg.format == "parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    if cfg.format != "jsonl" or path.endswith((".gz", ".zst", ".zstd")):
        return None
    size = os.path.getsize(path)
    stop = size if end < 0 else min(end, size)
    if start >= stop:
        return 0
    # a line starts at 0 and after every newline before the last byte
    n, pos = (1 if start == 0 else 0), max(start - 1, 0)
    with open(path, "rb") as fh:
        fh.seek(pos)
        while pos < stop - 1:
            chunk = fh.read(min(CHUNK * 8, stop - 1 - pos))
            if not chunk:
                break
            n += chunk.count(b"\n")
            pos += len(chunk)
    return n


def read_tasks_to_batches(cfg: InputConfig, tasks) -> Iterator[pa.RecordBatch]:
    batcher = _Batcher(cfg)
    for path, rel, start, end in tasks:
        for row in iter_task(cfg, path, rel, start, end):
            b = batcher.add(row)
            if b is not None:
                yield b
    b = batcher.flush()
    if b is not None:
        yield b


def _spark_read_fn(cfg_json: str, rows_acc=None):
    opts = storage.options()  # endpoints set on the driver (config storage:) reach the workers

    def fn(batches):
        storage.apply_options(opts)
        cfg = InputConfig.model_validate_json(cfg_json)
        for batch in batches:
            tasks = list(zip(*(batch.column(i).to_pylist() for i in range(4))))
            for out in read_tasks_to_batches(cfg, tasks):
                if rows_acc is not None:
                    rows_acc.add(out.num_rows)
                yield out
    return fn


def check_input(cfg: InputConfig) -> None:
    """Refuse a path that matches no file (naming the pattern) before anything is written; generated inputs
    (python_env, hf_dataset) are made inside the run folder and checked by resolve_input."""
    if cfg.format not in ("python_env", "hf_dataset"):
        list_files(cfg)
