"""target_knn as RDS+ (round-robin over target examples), against a brute-force reference."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from gristmill.selectors import target_knn as tk_mod
from gristmill.selectors.base import get_selector


def _unit(a):
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def brute_round_robin(X, T, b):
    """The definition, spelled out: full similarity matrix, targets take turns, best untaken each."""
    S = X @ T.T
    taken, picks = set(), []
    while len(picks) < b:
        for t in range(len(T)):
            order = np.argsort(-S[:, t], kind="stable")
            j = next(int(i) for i in order if int(i) not in taken)
            taken.add(j)
            picks.append(j)
            if len(picks) == b:
                break
    return picks


def test_doctests():
    assert doctest.testmod(tk_mod).failed == 0


def test_round_robin_is_the_default_and_matches_brute_force():
    rng = np.random.default_rng(0)
    X = _unit(rng.standard_normal((400, 16)))
    T = _unit(rng.standard_normal((7, 16)))
    for b in (1, 7, 50, 399):
        sel = get_selector("target_knn").select(X, b, target=T)
        assert sel.diagnostics["aggregate"] == "round_robin"
        assert sel.indices.tolist() == brute_round_robin(X, T, b), b


def test_every_target_example_gets_its_share_unlike_the_centroid():
    # 3 target examples in 3 directions; 20 pool documents near each; the pool also has 60 documents near
    # the targets' centroid. RDS+ takes the nearest to each example in turn; the centroid takes the middle.
    rng = np.random.default_rng(1)
    axes = np.eye(8)[:3]
    near = [_unit(a + 0.05 * rng.standard_normal((20, 8))) for a in axes]
    middle = _unit(axes.mean(axis=0) + 0.05 * rng.standard_normal((60, 8)))
    X = np.concatenate(near + [middle])
    T = _unit(axes)
    rr = get_selector("target_knn").select(X, 30, target=T).indices
    assert [int((rr // 20 == k).sum()) for k in range(3)] == [10, 10, 10]
    mean = get_selector("target_knn", aggregate="mean").select(X, 30, target=T).indices
    assert (mean >= 60).all()
    mx = get_selector("target_knn", aggregate="max").select(X, 30, target=T)
    assert (mx.indices < 60).all() and np.all(np.diff(mx.scores) <= 1e-9)


def test_local_causal_lm_folder_embeds_with_its_own_hidden_states(tmp_path):
    # RDS+ embeds with the trained model: any local Hugging Face causal-LM folder works as model_path
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from gristmill.selectors.embed import Embedder, EmbedSettings
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(["the mill ground wheat and rye for the valley", "def f(): return 1"] * 10,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<pad>", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=fast.vocab_size, n_embd=32, n_layer=2, n_head=2, n_positions=64,
                                    bos_token_id=2, eos_token_id=2))
    lm.save_pretrained(tmp_path / "lm")
    fast.save_pretrained(tmp_path / "lm")
    emb = Embedder(EmbedSettings(model_path=str(tmp_path / "lm"), max_tokens=32, batch_size=2, device="cpu"))
    texts = ["the mill ground wheat", "def f(): return 1", "rye for the valley"]
    X = emb.embed(texts)
    assert X.shape == (3, 32) and np.allclose((X ** 2).sum(axis=1), 1.0, atol=1e-5)
    sel = get_selector("target_knn").select(X, 1, target=emb.embed(["the mill ground wheat"]))
    assert sel.indices.tolist() == [0]
