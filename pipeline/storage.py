"""Where gristmill's files live: local paths, or URIs on HDFS and object stores, through `pyarrow.fs`.

`path(x)` turns a config value into something path-like: a plain `pathlib.Path` for local paths (and
`file://` URIs), so local runs behave exactly as before, or a `RemotePath` for `s3://`, `s3a://`, `gs://`,
`hdfs://`, `abfs[s]://` URIs. A RemotePath has the small part of pathlib the run directory and readers use
(`/`, name, parent, exists, iterdir, glob, mkdir, read/write, unlink) and its `str()` is the URI as Hadoop
expects it (`s3://` becomes `s3a://`, Hadoop's S3 connector), so `spark.read.parquet(str(p))` works unchanged.

What differs between filesystems is one question, `has_rename(p)`: local disks and HDFS rename a folder in
one step, so a stage is written to a temporary folder and renamed into place. Object stores have no rename
(a "move" copies every object), so there a stage is written to a versioned attempt folder and committed by a
marker written last (see rundir.py). Small files are written whole: on object stores a PUT is atomic (the
object appears complete or not at all), elsewhere a temporary file is renamed over the target.

Endpoints and credentials come from the environment as pyarrow reads them (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, ..., GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*), or from `configure(scheme, **opts)`
(the run config's `storage:` section), whose options are shipped to Spark's Python workers with the tasks.
"""
from __future__ import annotations

import fnmatch
import os
import posixpath
import shutil
import threading
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .errors import StageError

# Hadoop's names for the same stores (what Spark is given); pyarrow's names (what Python uses)
_SPARK_SCHEME = {"s3": "s3a", "s3n": "s3a"}
_ARROW_SCHEME = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}
SCHEMES = ("s3", "s3a", "s3n", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")
# filesystems whose folder rename is one atomic metadata operation
_RENAMES = {"hdfs", "viewfs"}

_OPTIONS: dict[str, dict] = {}
_FS_CACHE: dict[tuple, tuple] = {}
_FS_LOCK = threading.Lock()


class StorageError(StageError):
    """A path gristmill cannot use (unknown scheme, a store it cannot open): the CLI prints it plainly."""


def configure(uri_scheme: str, /, **options) -> None:
    """Options for building a scheme's filesystem (e.g. configure("s3", endpoint_override="host:9000",
    scheme="http")); they replace those given before for that scheme."""
    uri_scheme = _ARROW_SCHEME.get(uri_scheme, uri_scheme)
    _OPTIONS[uri_scheme] = dict(options)
    with _FS_LOCK:
        for key in [k for k in _FS_CACHE if k[0] == uri_scheme]:
            del _FS_CACHE[key]


def options() -> dict:
    """The configured options, to hand to Spark's Python workers (apply them there with `apply_options`)."""
    return {k: dict(v) for k, v in _OPTIONS.items()}


def apply_options(opts: dict | None) -> None:
    for scheme, o in (opts or {}).items():
        if _OPTIONS.get(scheme) != o:
            configure(scheme, **o)


def is_uri(p) -> bool:
    """True for URIs that name a non-local filesystem (file:// is local)."""
    if isinstance(p, RemotePath):
        return True
    s = str(p)
    return "://" in s and s.split("://", 1)[0].lower() in SCHEMES


def path(p):
    """A local Path, or a RemotePath for a URI; file:// URIs become plain paths. Unknown schemes are refused."""
    if isinstance(p, (Path, RemotePath)):
        return p
    s = str(p)
    if "://" in s:
        scheme = s.split("://", 1)[0].lower()
        if scheme == "file":
            return Path(urlsplit(s).path)
        if scheme not in SCHEMES:
            raise StorageError(f"{s}: unknown filesystem {scheme!r}; gristmill reads local paths, file://, "
                               f"{', '.join(x + '://' for x in SCHEMES)}")
        return RemotePath(s)
    return Path(s)


def spark_uri(p) -> str:
    """The path as Spark's Hadoop layer expects it (s3:// -> s3a://); local paths unchanged."""
    return str(path(p))


def has_rename(p) -> bool:
    """Whether folders on p's filesystem rename atomically (local, HDFS) or not (object stores)."""
    return not isinstance(p, RemotePath) or p.scheme in _RENAMES


def _filesystem(scheme: str, netloc: str):
    """(pyarrow filesystem, its path for the root of netloc), cached per process."""
    from pyarrow import fs
    key = (scheme, netloc)
    with _FS_LOCK:
        if key in _FS_CACHE:
            return _FS_CACHE[key]
    opts = _OPTIONS.get(scheme)
    if scheme == "s3" and opts:
        f, root = fs.S3FileSystem(**opts), netloc
    elif scheme == "gs" and opts:
        f, root = fs.GcsFileSystem(**opts), netloc
    else:
        try:
            f, root = fs.FileSystem.from_uri(f"{scheme}://{netloc}/")
        except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds; all mean the same to a user
            raise StorageError(f"cannot open {scheme}://{netloc}/: {e}. For HDFS, set JAVA_HOME and "
                               f"ARROW_LIBHDFS_DIR (libhdfs); for object stores, check the credentials and "
                               f"endpoint (storage: in the config, or AWS_ENDPOINT_URL)") from None
    with _FS_LOCK:
        _FS_CACHE[key] = (f, root)
    return f, root


class _Stat:
    def __init__(self, size: int, mtime_ns: int):
        self.st_size, self.st_mtime_ns, self.st_mtime = size, mtime_ns, mtime_ns / 1e9


class RemotePath:
    """A file or folder on a remote filesystem, with the part of pathlib gristmill uses."""

    def __init__(self, uri: str):
        u = urlsplit(uri)
        self.scheme = u.scheme.lower()
        self.netloc = u.netloc
        self.key = posixpath.normpath("/" + u.path).lstrip("/") if u.path.strip("/") else ""
        self._listed = None  # the FileInfo a listing returned, so walking a folder costs no request per file

    # -- names ----------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.netloc}/{self.key}"

    def __str__(self) -> str:
        return f"{_SPARK_SCHEME.get(self.scheme, self.scheme)}://{self.netloc}/{self.key}"

    def __repr__(self) -> str:
        return f"RemotePath({self.uri!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RemotePath) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __truediv__(self, part) -> "RemotePath":
        key = posixpath.join(self.key, str(part)) if self.key else str(part)
        return RemotePath(f"{self.scheme}://{self.netloc}/{key}")

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)

    @property
    def parent(self) -> "RemotePath":
        return RemotePath(f"{self.scheme}://{self.netloc}/{posixpath.dirname(self.key)}")

    def with_name(self, name: str) -> "RemotePath":
        return self.parent / name

    def is_absolute(self) -> bool:
        return True

    def resolve(self) -> "RemotePath":
        return self

    def relative_to(self, other: "RemotePath") -> PurePosixPath:
        return PurePosixPath(self.key).relative_to(other.key)

    # -- the filesystem -------------------------------------------------------------------------
    @property
    def fs(self):
        return _filesystem(_ARROW_SCHEME.get(self.scheme, self.scheme), self.netloc)[0]

    @property
    def fs_path(self) -> str:
        root = _filesystem(_ARROW_SCHEME.get(self.scheme, self.scheme), self.netloc)[1]
        return posixpath.join(root, self.key) if self.key else root

    def _child(self, info) -> "RemotePath":
        child = self / posixpath.relpath(info.path, self.fs_path)
        child._listed = info
        return child

    def _info(self):
        return self._listed if self._listed is not None else self.fs.get_file_info(self.fs_path)

    def exists(self) -> bool:
        from pyarrow.fs import FileType
        return self._info().type != FileType.NotFound

    def is_dir(self) -> bool:
        from pyarrow.fs import FileType
        return self._info().type == FileType.Directory

    def is_file(self) -> bool:
        from pyarrow.fs import FileType
        return self._info().type == FileType.File

    def stat(self) -> _Stat:
        from pyarrow.fs import FileType
        info = self._info()
        if info.type == FileType.NotFound:
            raise FileNotFoundError(self.uri)
        return _Stat(info.size or 0, info.mtime_ns or 0)

    def _list(self, recursive: bool):
        from pyarrow.fs import FileSelector
        return self.fs.get_file_info(FileSelector(self.fs_path, allow_not_found=True, recursive=recursive))

    def iterdir(self):
        return iter(sorted((self._child(i) for i in self._list(False)), key=str))

    def glob(self, pattern: str):
        """Children matching one fnmatch pattern, or, with a '/' or '**' in it, descendants whose path
        relative to this folder matches (as glob.glob(recursive=True) does)."""
        if "/" not in pattern and "**" not in pattern:
            return iter(sorted((p for p in self.iterdir() if fnmatch.fnmatchcase(p.name, pattern)), key=str))
        out = [self._child(i) for i in self._list(True)
               if _glob_match(posixpath.relpath(i.path, self.fs_path), pattern)]
        return iter(sorted(out, key=str))

    def rglob(self, pattern: str):
        from pyarrow.fs import FileType
        return iter(sorted((self._child(i) for i in self._list(True)
                            if fnmatch.fnmatchcase(posixpath.basename(i.path), pattern)
                            and i.type != FileType.NotFound), key=str))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        if not exist_ok and self.exists():
            raise FileExistsError(self.uri)
        self.fs.create_dir(self.fs_path, recursive=True)

    def open(self, mode: str = "rb"):
        if mode == "rb":
            import io
            return io.BufferedReader(self.fs.open_input_file(self.fs_path), buffer_size=1 << 20)
        if mode == "wb":
            return self.fs.open_output_stream(self.fs_path)
        raise ValueError(f"RemotePath.open: mode {mode!r} (use 'rb' or 'wb')")

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.fs_path) as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        with self.fs.open_output_stream(self.fs_path) as f:
            f.write(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.fs_path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rename(self, target: "RemotePath") -> "RemotePath":
        """A file rename (a copy and delete on object stores); folders: see move_tree."""
        self.fs.move(self.fs_path, target.fs_path)
        return target


def _glob_match(rel: str, pattern: str) -> bool:
    """fnmatch per path segment, with '**' matching any number of segments."""
    parts, pats = rel.split("/"), pattern.split("/")

    def match(i: int, j: int) -> bool:
        if j == len(pats):
            return i == len(parts)
        if pats[j] == "**":
            return any(match(k, j + 1) for k in range(i, len(parts) + 1))
        return i < len(parts) and fnmatch.fnmatchcase(parts[i], pats[j]) and match(i + 1, j + 1)

    return match(0, 0)


# -- operations pathlib spells differently -------------------------------------------------------
def rmtree(p, ignore_errors: bool = True) -> None:
    """Delete a folder and everything under it (no error if it is gone)."""
    p = path(p)
    if not isinstance(p, RemotePath):
        shutil.rmtree(p, ignore_errors=ignore_errors)
        return
    try:
        if p.is_dir():
            p.fs.delete_dir(p.fs_path)
        elif p.exists():
            p.unlink()
    except OSError:
        if not ignore_errors:
            raise


def move_tree(src, dst) -> None:
    """Give a folder a new name: a rename where the filesystem has one, else a copy of every object then a
    delete (not atomic: call it only inside a folder nobody reads until it is committed)."""
    src, dst = path(src), path(dst)
    if has_rename(src):
        src.rename(dst)
        return
    from pyarrow.fs import FileType
    for info in src._list(True):
        if info.type == FileType.File:
            rel = posixpath.relpath(info.path, src.fs_path)
            src.fs.copy_file(info.path, (dst / rel).fs_path)
    rmtree(src)


def write_bytes_atomic(p, data: bytes, tmp_name: str | None = None) -> None:
    """Readers see the old content or the new, never part: a PUT on object stores (atomic by itself),
    a temporary file renamed over the target elsewhere."""
    import os
    import uuid
    p = path(p)
    if isinstance(p, RemotePath) and not has_rename(p):
        p.write_bytes(data)
        return
    tmp = p.with_name(tmp_name or f".{p.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(data)
        if isinstance(p, RemotePath):
            p.fs.move(tmp.fs_path, p.fs_path)  # HDFS: rename
        else:
            os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written temporary file must not fill the disk further
        raise


def write_json_atomic(p, obj) -> None:
    """A small JSON file (manifest, stats, markers) written whole or not at all."""
    import json
    write_bytes_atomic(p, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def read_json(p):
    """A small JSON file, or None when it is missing or unreadable."""
    import json
    try:
        return json.loads(path(p).read_text())
    except (OSError, ValueError):
        return None


def arrow_files(folder, suffix: str = ".parquet"):
    """(pyarrow filesystem or None for local, [paths]) of the files in a folder ending with suffix, sorted:
    what pyarrow.parquet / pyarrow.dataset take to read them."""
    folder = path(folder)
    if isinstance(folder, RemotePath):
        files = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        return folder.fs, [p.fs_path for p in files if p.is_file()]
    return None, [str(f) for f in sorted(folder.glob("*" + suffix))]


def open_input(p):
    """A binary file object for reading (seekable, with readline); local files through plain open()."""
    p = path(p)
    return p.open("rb") if isinstance(p, RemotePath) else open(p, "rb")


def hadoop_conf() -> dict[str, str]:
    """spark.hadoop.fs.s3a.* settings that point Spark's S3A connector at the endpoint configured for s3
    (an S3-compatible store such as MinIO). Credentials are left to Hadoop's provider chain (environment,
    instance profile): a key in a Spark setting shows in the UI and in logs."""
    o = _OPTIONS.get("s3") or {}
    out = {}
    if o.get("endpoint_override"):
        endpoint = o["endpoint_override"]
        if "://" not in endpoint:
            endpoint = f"{o.get('scheme', 'https')}://{endpoint}"
        out["spark.hadoop.fs.s3a.endpoint"] = endpoint
        out["spark.hadoop.fs.s3a.path.style.access"] = "true"
        out["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    if o.get("region"):
        out["spark.hadoop.fs.s3a.endpoint.region"] = o["region"]
    return out


# Hadoop connector jars per scheme, for the message when Spark has none (versions follow Spark's Hadoop)
_CONNECTORS = {
    "s3a": "org.apache.hadoop:hadoop-aws:{hadoop} (it brings the AWS SDK bundle)",
    "gs": "com.google.cloud.bigdataoss:gcs-connector:hadoop3-<version>",
    "abfs": "org.apache.hadoop:hadoop-azure:{hadoop}",
    "abfss": "org.apache.hadoop:hadoop-azure:{hadoop}",
}


def spark_filesystem_problem(spark, p) -> str | None:
    """None if Spark's Hadoop layer can open p's filesystem; else what is missing and how to add it
    (asked once on the driver, before a stage writes anything)."""
    p = path(p)
    if not isinstance(p, RemotePath):
        return None
    jvm = spark.sparkContext._jvm
    try:
        jvm.org.apache.hadoop.fs.Path(str(p)).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        return None
    except Exception as e:  # noqa: BLE001 - py4j wraps the JVM's exception; its text says which
        hadoop = jvm.org.apache.hadoop.util.VersionInfo.getVersion()
        scheme = str(p).split("://", 1)[0]
        jar = _CONNECTORS.get(scheme, "the Hadoop connector for " + scheme).format(hadoop=hadoop)
        java = getattr(e, "java_exception", None)  # py4j's own text only names the call
        first = str(java.toString()) if java is not None else (str(e).strip() or type(e).__name__).splitlines()[0]
        return (f"Spark cannot open {p} ({first[:200]}). Spark's Hadoop {hadoop} needs the connector jar: "
                f"spark.jars.packages={jar.split(' ')[0]} in spark.conf (or spark-submit --packages/--jars), "
                f"and the spark.hadoop.fs.{scheme}.* settings for the store (docs/storage.md)")


def cache_root() -> Path:
    """gristmill's local cache (converted models, the Spark class archive): $GRISTMILL_CACHE, else
    $XDG_CACHE_HOME/gristmill, else ~/.cache/gristmill."""
    if os.environ.get("GRISTMILL_CACHE"):
        return Path(os.environ["GRISTMILL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gristmill"
