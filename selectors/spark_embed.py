"""Embedding a Spark DataFrame: workers embed their Arrow batches and write shards themselves; only
(shard key, rows, skipped) comes back to the driver, never a document.

Shards are written straight from the workers to the embeddings folder, so on a cluster that folder must
be on storage every executor can reach (as the run directory already is)."""
from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gristmill.pipeline.stage import StageError, worker_cached

from .embed import EmbedSettings, load_embeddings, resolve_model_path, settings_tag, write_meta


def embeddings_folder(run_dir: Path, settings: EmbedSettings) -> Path:
    from ..pipeline.rundir import RunDir  # the run folder's layout has one owner
    return RunDir(run_dir).embeddings(settings.folder_name())


def _embed_partition(settings_dict: dict, folder: str, threads: int, tag: str):
    def fn(batches):
        import pyarrow as pa

        from .embed import Embedder, embed_batch_to_shard

        settings = EmbedSettings(**settings_dict)

        def make():
            import torch
            torch.set_num_threads(threads)  # one task per core already: more threads only contend
            return Embedder(settings)

        keys, rows, skipped = [], [], []
        for batch in batches:
            if not batch.num_rows:
                continue
            ids = batch.column("id").to_pylist()
            if any(i is None for i in ids):
                raise StageError(f"a document has a null id (batch starting at id {ids[0]!r}); "
                                 f"every row needs an id before embedding")
            texts = batch.column("text").to_pylist()
            k, r, s = embed_batch_to_shard(lambda: worker_cached(("embedder", repr(settings)), make),
                                           Path(folder), ids, texts, settings.dtype, tag)
            keys.append(k), rows.append(r), skipped.append(s)
        if keys:
            yield pa.RecordBatch.from_pydict({"key": keys, "rows": rows, "skipped": skipped},
                                             schema=pa.schema([("key", pa.string()), ("rows", pa.int64()),
                                                               ("skipped", pa.bool_())]))
    return fn


def embed_df(spark, df, folder: Path, settings: EmbedSettings) -> dict:
    """Embed every row of df (columns id, text) into shards under folder; returns keys and counts."""
    resolve_model_path(settings.model_path)  # fail before any task starts
    folder.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // max(1, spark.sparkContext.defaultParallelism))
    fn = _embed_partition(asdict(settings), str(folder), threads, settings_tag(settings))
    out = df.select("id", "text").mapInArrow(fn, "key string, rows long, skipped boolean").collect()
    keys = list(dict.fromkeys(r["key"] for r in out))
    done = [r for r in out if r["skipped"]]
    replaced = _drop_replaced_shards(folder, keys)
    if replaced:
        print(f"embeddings: re-embedded {len(replaced)} shard(s) whose ids were embedded before with other "
              f"texts or another model/settings (texts changed upstream?); the old vectors were deleted",
              file=sys.stderr, flush=True)
    if keys:
        dim = int(np.load(folder / f"shard-{keys[0]}.npy", mmap_mode="r").shape[1])
        write_meta(folder, settings, dim)
    return {"keys": keys, "rows": sum(r["rows"] for r in out), "shards": len(keys),
            "shards_skipped": len(done), "rows_skipped": sum(r["rows"] for r in done),
            "shards_replaced": len(replaced)}


def _drop_replaced_shards(folder: Path, keys: list[str]) -> list[str]:
    """Shards with the same ids as one just made but other content: stale vectors, deleted."""
    current = set(keys)
    ids_part = {k.split("-")[0] for k in keys}
    stale = [p for p in folder.glob("shard-*.npy")
             if p.name[6:-4] not in current and p.name[6:-4].split("-")[0] in ids_part]
    for p in stale:
        key = p.name[6:-4]
        p.unlink(missing_ok=True)
        (folder / f"shard-{key}.ids.parquet").unlink(missing_ok=True)
    return [p.name[6:-4] for p in stale]


def aligned_embeddings(folder: Path, want_ids: list[str], keys: list[str] | None = None,
                       where: str = "the documents") -> np.ndarray:
    """Rows of the embeddings in the order of want_ids; every id must have exactly one embedding."""
    ids, X = load_embeddings(folder, keys)
    pos = {}
    for i, d in enumerate(ids):
        pos.setdefault(d, i)
    missing = [d for d in want_ids if d not in pos]
    if missing:
        raise StageError(f"{len(missing)} of {len(want_ids)} ids in {where} have no embedding in {folder} "
                         f"(first: {missing[:3]}); the embeddings belong to other documents: rerun "
                         f"`gristmill embed RUN --stage <that stage>` with the same model and window")
    return X[np.fromiter((pos[d] for d in want_ids), np.int64, len(want_ids))]
