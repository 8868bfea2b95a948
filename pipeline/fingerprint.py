"""What a stage's hash covers, so that nothing is reused after its code, settings or input bytes changed.

A stage's hash (stage_hashes) chains: the hash upstream, the stage's name and params, gristmill's version, a
digest of the stage's code (code_digest), and the content digest of every file it reads (Stage.files: config
fields marked FILE). The read stage's hash covers the input files' content digests (input_digests).

What the digest cache trusts (file_digest). Hashing every input byte on every run costs 2 to 8 s per GB
(sha256, 131-217 MiB/s measured on a shared 2-core machine; blake2b and md5 were slower there), too much to
repeat for a large corpus, while a cache hit costs one stat (~25 us per file). So a file's digest is cached
under a key of its path, inode, size, mtime_ns and ctime_ns. `touch -r` and most copy tools can set mtime back,
but no user-level call sets ctime: any write or metadata change (including the `touch -r` itself) moves it to
"now", so a file rewritten at the same size with its mtime restored gets a new key and is hashed again. What
the cache cannot notice: a change made with the clock set back, or by writing the block device directly. On
object stores (no ctime, no inode) the key is size and modification time, which the store sets itself on
every write and no client can set back.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import sys
from pathlib import Path

from .config import digest


def file_digest(path: str | Path, cache: dict) -> dict:
    """size, mtime and a streamed sha256 of a file (or of every file under a folder); the digest is reused
    while the file's cache key (see the module docstring) stays the same, so a 2 GB model is hashed once."""
    p = Path(path).expanduser()
    if not p.exists():
        return {"path": str(path), "missing": True}
    files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
    h, total, newest = hashlib.sha256(), 0, 0
    for f in files:
        st = f.stat()
        key = f"{f.resolve()}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}"
        if key not in cache:
            cache[key] = sha256_file(f)
        h.update(f"{f.relative_to(p) if p.is_dir() else f.name}\0{cache[key]}\0".encode())
        total, newest = total + st.st_size, max(newest, st.st_mtime_ns)
    return {"path": str(path), "size": total, "mtime_ns": newest, "sha256": h.hexdigest()}


def sha256_file(f: Path) -> str:
    d = hashlib.sha256()
    with open(f, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            d.update(block)
    return d.hexdigest()


def input_digests(files: list[tuple], cache: dict) -> list:
    """(path, size, mtime) per input file as the readers list them -> the same plus a content digest for local
    files (object stores: size and the store's own modification time, see the module docstring)."""
    from . import storage
    out = []
    for entry in files:
        p = entry[0]
        out.append([*entry, None if storage.is_uri(p) else file_digest(p, cache)["sha256"]])
    return out


# -- the code a stage runs -------------------------------------------------------------------------------
def gristmill_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("gristmill")
    except metadata.PackageNotFoundError:
        return "unknown"


def _own_modules(cls: type) -> list[str]:
    """The modules that define the stage class and its Stage base classes (a plugin's too)."""
    out = []
    for klass in cls.__mro__:
        if klass is object or not klass.__module__ or klass.__module__ == "builtins":
            continue
        out.append(klass.__module__)
    return list(dict.fromkeys(out))


def _imported(module: str, tree: ast.AST, top: str) -> set[str]:
    """Modules of the same top-level package that `module` imports anywhere in its source (functions too)."""
    pkg_parts = module.split(".")
    is_pkg = getattr(sys.modules.get(module), "__path__", None) is not None
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts if is_pkg else pkg_parts[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
        else:
            continue
        out.update(n for n in names if n == top or n.startswith(top + "."))
    return out


def _module_source(module: str) -> tuple[str, str] | None:
    """(file, source) of an importable module, None for names that are not modules (imported classes).
    Read from disk on every plan (no cache across runs): an edited file must be seen by the next run."""
    import importlib.util
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin, Path(spec.origin).read_text(encoding="utf-8")


def _closure_digest(start: tuple[str, ...], memo: dict) -> str:
    h = hashlib.sha256()
    seen, todo = set(), list(start)
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        if mod not in memo:
            src = _module_source(mod)
            top = "gristmill" if mod.startswith("gristmill.") else mod.split(".")[0]
            memo[mod] = None if src is None else (hashlib.sha256(src[1].encode()).hexdigest(),
                                                   _imported(mod, ast.parse(src[1]), top))
        if memo[mod] is not None:
            todo.extend(memo[mod][1])
    for mod in sorted(seen):
        if memo[mod] is not None:
            h.update(f"{mod}\0{memo[mod][0]}\0".encode())
    return h.hexdigest()[:16]


def code_digest(cls: type, memo: dict | None = None) -> str:
    """A digest of the source of the stage's own module(s) and every module of the same package they import
    (at module level or inside functions), so editing a stage, or a helper it calls, reruns it. Modules are
    read as they are on disk now, from the installed package (an editable install: the working tree)."""
    try:
        inspect.getsourcefile(cls)
    except TypeError:  # a class defined in __main__ or a notebook: no file to hash
        return "no-source"
    return _closure_digest(tuple(_own_modules(cls)), {} if memo is None else memo)


def read_code_digest() -> str:
    """The read stage's code: the readers and everything they import (inputs/, config, storage ...)."""
    return _closure_digest(("gristmill.pipeline.inputs.readstage", "gristmill.pipeline.inputs.sources"), {})


def stage_hashes(input_hash: str, stages: list, digest_cache: dict | None = None) -> list[str]:
    """Hash per stage: its params, gristmill's version and its code, the content of the files it reads
    (Stage.files, cached as file_digest says), plus everything upstream (chained)."""
    cache = {} if digest_cache is None else digest_cache
    out, prev = [], input_hash
    version, memo = gristmill_version(), {}
    for cls, params in stages:
        files = [file_digest(f, cache) for f in cls(params).files()]
        body = {"up": prev, "stage": cls.name, "params": params.model_dump(mode="json"),
                "gristmill": version, "code": code_digest(cls, memo)}
        if files:
            body["files"] = [{k: v for k, v in f.items() if k != "mtime_ns"} for f in files]
        prev = digest(body)
        out.append(prev)
    return out
