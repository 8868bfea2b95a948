"""The read stage (00-read): the workers read the input files and write kept/ and rejected/ themselves.

Read tasks are planned by bytes (readers.task_frame): small files are packed into one task up to a target size
and large plain jsonl files cut into byte ranges, so output files stay near that size. Each Spark task parses
its files into Arrow batches (readers.py, warc.py) and writes them with pyarrow's
Parquet writer into one file per task and status; only (id, src_file, src_row) of the kept rows go back to
the JVM, where one job groups them by id to find repeated ids. The texts are parsed and written once, never
converted to JVM rows, and never read again unless an id repeats (then kept/ is rewritten,
enforce_unique_ids). A task that is retried writes the same file name again, so its output is replaced, not
doubled; a file appears under its final name only when complete.
"""
from __future__ import annotations

import json
import os
import uuid
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from .. import storage
from ..config import InputConfig
from .readers import WEB_FORMATS, ReadError, arrow_schema, expected_rows, read_tasks_to_batches, task_frame

ROW_GROUP_BYTES = 64 * 1024 * 1024  # Arrow bytes buffered per Parquet row group (Spark writes 128 MB ones)
ID_COLUMNS = "id string, src_file string, src_row bigint"
SEEN = "_seen"  # per task: {file: rows the file holds in the task's range}, summed into the stage's `in`
# Spark's names for its Parquet codecs -> pyarrow's; the read stage follows spark.sql.parquet.compression.codec
_CODECS = {"uncompressed": "none", "none": "none", "snappy": "snappy", "gzip": "gzip", "lz4": "lz4",
           "lz4_raw": "lz4", "zstd": "zstd", "brotli": "brotli"}


def _format_reader(cfg: InputConfig):
    """(tasks -> Arrow batches, their schema) for the input's format."""
    if cfg.format in WEB_FORMATS:
        from .warc import _batches, web_fields
        return _batches, pa.schema(web_fields(cfg.keep_fields))
    return read_tasks_to_batches, arrow_schema(cfg)


class _PartFile:
    """One task's Parquet file in a folder: written under a hidden temporary name from the first row, given
    its name part-NNNNN.parquet when complete (a task retried after a failure writes the same name again)."""

    def __init__(self, folder: str, name: str, schema: pa.Schema, codec: str):
        self.folder, self.name, self.schema, self.codec = storage.path(folder), name, schema, codec
        self.writer, self.tmp, self.buf, self.nbytes = None, None, [], 0

    def add(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        self.buf.append(batch)
        self.nbytes += batch.nbytes
        if self.nbytes >= ROW_GROUP_BYTES:
            self._write()

    def _write(self) -> None:
        import pyarrow.parquet as pq
        if self.writer is None:
            self.tmp = self.folder / f".{self.name}.{uuid.uuid4().hex[:8]}.tmp"
            if isinstance(self.tmp, storage.RemotePath):
                self.writer = pq.ParquetWriter(self.tmp.fs_path, self.schema, filesystem=self.tmp.fs,
                                               compression=self.codec)
            else:
                self.writer = pq.ParquetWriter(str(self.tmp), self.schema, compression=self.codec)
        self.writer.write_table(pa.Table.from_batches(self.buf, self.schema), row_group_size=1 << 62)
        self.buf, self.nbytes = [], 0

    def close(self) -> None:
        if self.buf:
            self._write()
        if self.writer is None:
            return
        self.writer.close()
        final = self.folder / self.name
        if isinstance(final, storage.RemotePath):
            final.fs.move(self.tmp.fs_path, final.fs_path)
        else:
            os.replace(self.tmp, final)

    def abort(self) -> None:
        """Drop the unfinished file (a hidden name, which neither Spark nor the row counts read)."""
        if self.writer is None:
            return
        try:
            self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def _write_fn(cfg_json: str, work: str, codec: str, rows_acc=None):
    opts = storage.options()  # endpoints set on the driver (config storage:) reach the workers

    def fn(batches):
        from pyspark import TaskContext
        storage.apply_options(opts)
        cfg = InputConfig.model_validate_json(cfg_json)
        read, schema = _format_reader(cfg)
        part = TaskContext.get().partitionId()
        name = f"part-{part:05d}.parquet"
        kept, rejected = (_PartFile(f"{work}/{s}", name, schema, codec) for s in ("kept", "rejected"))
        written: Counter = Counter()
        expected: dict[str, int | None] = {}
        try:
            for batch in batches:
                tasks = list(zip(*(batch.column(i).to_pylist() for i in range(4))))
                for path, _, start, end in tasks:
                    n = expected_rows(cfg, path, start, end)
                    expected[path] = None if n is None or expected.get(path, 0) is None else expected.get(path, 0) + n
                for out in read(cfg, tasks):
                    if rows_acc is not None:
                        rows_acc.add(out.num_rows)
                    written.update(_per_file(out))
                    reason = out.column("drop_reason")
                    if reason.null_count < out.num_rows:
                        rejected.add(out.filter(pc.is_valid(reason)))
                        out = out.filter(pc.is_null(reason))
                    kept.add(out)
                    if out.num_rows:
                        yield out.select(["id", "src_file", "src_row"])
            _check_files(expected, written)
            kept.close()
            rejected.close()
            seen = {p: (expected[p] if expected.get(p) is not None else written[p]) for p in {*expected, *written}}
            storage.write_bytes_atomic(storage.path(f"{work}/{SEEN}") / f"part-{part:05d}.json",
                                       json.dumps(seen).encode())
        except BaseException:
            kept.abort()
            rejected.abort()
            raise
    return fn


def _per_file(batch: pa.RecordBatch) -> Counter:
    counts = pc.value_counts(batch.column("src_file"))
    return Counter(dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def _check_files(expected: dict, written: Counter) -> None:
    """Every row a file holds was written, kept or rejected: the readers' rows per file against a count made
    apart from the parser (lines, a Parquet footer)."""
    for path, n in expected.items():
        if n is not None and written[path] != n:
            raise ReadError(f"read accounting: {path} holds {n:,} rows (lines) in this task's range, but the reader "
                            f"produced {written[path]:,} (kept + rejected). Nothing was written for this task; "
                            f"report this with the file, it is a bug in gristmill's reader")


def _codec(spark) -> str:
    name = (spark.conf.get("spark.sql.parquet.compression.codec", "snappy") or "snappy").lower()
    return _CODECS.get(name, "snappy")


def run_read_stage(spark, cfg: InputConfig, work, rows_acc=None) -> dict:
    """Read the input into work/kept and work/rejected, then make the kept ids unique. Returns `in` (the rows
    the input files hold, counted per file by the readers: every jsonl line, blank ones too), `files` and
    `repeated_ids` (rows that repeated an id: rejected, or renamed with input.duplicate_ids: rename)."""
    from pyspark.sql import functions as F

    work = storage.path(work)
    for status in ("kept", "rejected"):
        (work / status).mkdir(parents=True, exist_ok=True)
    (work / SEEN).mkdir(parents=True, exist_ok=True)
    tdf = task_frame(spark, cfg)  # small files packed into one task, large jsonl cut into byte ranges
    where = work.uri if isinstance(work, storage.RemotePath) else str(work)
    ids = tdf.mapInArrow(_write_fn(cfg.model_dump_json(), where, _codec(spark), rows_acc), ID_COLUMNS)
    # the one pass over the input: parse, write the texts, and group the kept ids to find repeats
    table = work / "_repeated_ids"
    (ids.groupBy("id").agg(F.count("*").alias("_n"), F.min(F.struct("src_file", "src_row")).alias("_first"))
        .where("_n > 1").write.parquet(str(table)))
    _fill_empty(work, _format_reader(cfg)[1])
    seen: dict[str, int] = {}
    for f in (work / SEEN).glob("part-*.json"):
        for path, n in json.loads(f.read_bytes()).items():
            seen[path] = seen.get(path, 0) + n
    storage.rmtree(work / SEEN, ignore_errors=False)
    return {"in": sum(seen.values()), "files": len(seen), "repeated_ids": enforce_unique_ids(spark, work, cfg, table)}


def _fill_empty(work, schema: pa.Schema) -> None:
    """A folder no task wrote into gets one empty file with the schema, so readers still see the columns."""
    import pyarrow.parquet as pq
    for status in ("kept", "rejected"):
        folder = work / status
        if storage.arrow_files(folder)[1]:
            continue
        empty = pa.Table.from_batches([], schema=schema)
        if isinstance(folder, storage.RemotePath):
            pq.write_table(empty, (folder / "part-empty.parquet").fs_path, filesystem=folder.fs)
        else:
            pq.write_table(empty, folder / "part-empty.parquet")


# -- unique ids ------------------------------------------------------------------------------------
def enforce_unique_ids(spark, work, cfg: InputConfig, table) -> int:
    """Apply the repeated ids found while reading (table: id, _n, _first for ids kept more than once);
    returns how many rows repeated an id.

    Repeats are rejected as read:duplicate_id naming the first occurrence (smallest file, row), or renamed
    id~2, id~3... in that order with input.duplicate_ids: rename; then kept/ is rewritten. The common case,
    no repeats, is an empty table: nothing more is read."""
    import pyarrow.dataset as ds  # here, not at the top: the workers that import this module never need it
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from ..rundir import write_split
    from ..stage import BROADCAST_BYTES, folder_bytes

    fs, files = storage.arrow_files(table)
    extra = 0
    if files:  # summed here from the (usually empty) table's one column: no Spark job
        for batch in ds.dataset(files, format="parquet", filesystem=fs).to_batches(columns=["_n"]):
            extra += (pc.sum(batch.column("_n")).as_py() or 0) - batch.num_rows
    if not extra:
        storage.rmtree(table, ignore_errors=False)
        return 0
    kept = work / "kept"
    reps = spark.read.parquet(str(table))
    docs = spark.read.parquet(str(kept))
    cols = docs.columns
    j = docs.join(F.broadcast(reps) if folder_bytes(table) <= BROADCAST_BYTES else reps, "id", "left")
    first = (F.col("src_file") == F.col("_first.src_file")) & (F.col("src_row") == F.col("_first.src_row"))
    repeat = j.where(F.col("_first").isNotNull())
    if cfg.duplicate_ids == "rename":
        rank = F.row_number().over(Window.partitionBy("id").orderBy("src_file", "src_row"))
        repeat = repeat.withColumn("id", F.when(first, F.col("id")).otherwise(F.concat_ws("~", "id", rank)))
    else:
        # src_row: the line's byte offset (jsonl, decompressed) or the row number (Parquet, Arrow)
        where = F.concat(F.col("_first.src_file"), F.lit(" at src_row "), F.col("_first.src_row").cast("string"))
        repeat = (repeat.withColumn("drop_reason", F.when(~first, F.lit("read:duplicate_id")))
                        .withColumn("read_error", F.when(~first, F.concat(
                            F.lit("id "), F.col("id"), F.lit(" was seen first at "), where, F.lit("; this copy is at "),
                            F.col("src_file"), F.lit(" at src_row "), F.col("src_row").cast("string"),
                            F.lit(". Give every document its own id, or set input.duplicate_ids: rename")))))
    redo = work / "_redo"
    write_split(j.where(F.col("_first").isNull()).select(*cols).unionByName(repeat.select(*cols)), redo)
    storage.rmtree(kept, ignore_errors=False)
    storage.move_tree(redo / "kept", kept)
    for f in (redo / "rejected").glob("*.parquet"):
        f.rename(work / "rejected" / f"repeated-id-{f.name}")
    storage.rmtree(redo, ignore_errors=False)
    return extra
