"""format: hf_dataset: whatever `datasets.load_dataset` reads from local files or a folder (jsonl, csv,
parquet, text, arrow, a dataset repo cloned to disk) or a folder written by `Dataset.save_to_disk`.

`datasets` converts the input once into Arrow files in its cache under the run (`_input/hf_cache`); gristmill's
Spark reader then reads those files in parallel like `hf_disk`. A rerun finds the same cache files, so the
input fingerprint matches and finished stages are skipped; changed source files get a new cache file.
"""
from __future__ import annotations

import glob
from pathlib import Path

from ..config import InputConfig

# file endings -> the `datasets` builder that reads them
BUILDERS = {".jsonl": "json", ".json": "json", ".jsonl.gz": "json", ".json.gz": "json", ".jsonl.zst": "json",
            ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".txt": "text", ".arrow": "arrow"}


def _builder(path: str) -> str | None:
    name = path.lower()
    for ext in sorted(BUILDERS, key=len, reverse=True):
        if name.endswith(ext):
            return BUILDERS[ext]
    return None


def materialize(cfg: InputConfig, run_dir: Path) -> InputConfig:
    """Load with `datasets` into the run's cache; returns an hf_disk input over the cache's Arrow files."""
    import datasets

    from .readers import ReadError

    specs = [str(Path(p).expanduser()) for p in cfg.path or []]
    if not specs:
        raise ReadError("input.path is required for format hf_dataset (files, a folder, or a saved dataset)")
    cache = Path(run_dir) / "_input" / "hf_cache"
    datasets.disable_progress_bars()
    where = ", ".join(specs)
    try:
        if len(specs) == 1 and (Path(specs[0]) / "dataset_info.json").exists():
            ds = datasets.load_from_disk(specs[0])
            if isinstance(ds, datasets.DatasetDict):
                ds = _split(ds, cfg.split, where)
        elif len(specs) == 1 and Path(specs[0]).is_dir():
            ds = _split(datasets.load_dataset(specs[0], cache_dir=str(cache)), cfg.split, where)
        else:
            builders = {_builder(s) for s in specs}
            if None in builders or len(builders) != 1:
                raise ReadError(f"input.path {where}: hf_dataset reads files of one kind "
                                f"({', '.join(sorted(BUILDERS))}); got {specs}")
            missing = [s for s in specs if not glob.glob(s)]
            if missing:
                raise ReadError(f"input.path {', '.join(missing)} matches no files; check input.path")
            # files given by name form one split, `train`, as in load_dataset("json", data_files=...)
            ds = _split(datasets.load_dataset(builders.pop(), data_files=specs, cache_dir=str(cache)),
                        cfg.split, where)
    except ReadError:
        raise
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetNotFoundError) as e:
        raise ReadError(f"input.path {where}: datasets could not load it: {e}") from None
    files = [f["filename"] for f in ds.cache_files]
    if not files:  # an in-memory dataset (tiny inputs): write it where the Spark reader can find it
        out = Path(run_dir) / "_input" / "hf_dataset"
        ds.save_to_disk(str(out))
        files = [str(out)]
    return cfg.model_copy(update={"format": "hf_disk", "path": files})


def _split(dsd, split: str, where: str):
    from .readers import ReadError
    if not hasattr(dsd, "keys"):
        return dsd
    if split not in dsd:
        raise ReadError(f"input.path {where}: no split {split!r}; it has {', '.join(dsd.keys())} "
                        f"(set input.split)")
    return dsd[split]
