"""target_knn as RDS+ against a reference written from the paper (Ivison et al. 2025, Section 3) and the authors'
get_top_aggregated_influences.py (`--selection_method max --aggregation_method round_robin`): per task, each pool
document scores its max cosine over the task's examples; each task sorts the pool by that score; the tasks then
take turns popping their next document, a document popped before being skipped (the turn is spent)."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

from gristmill.selectors import target_knn as tk_mod
from gristmill.selectors.base import get_selector


def _unit(a):
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def rds_plus_reference(X, T, tasks, b):
    """The paper's loop, spelled out with dictionaries and lists as the authors' script does."""
    per_task = {}
    for t in dict.fromkeys(tasks):  # tasks in order of first appearance
        cols = [e for e, name in enumerate(tasks) if name == t]
        scores = {i: max(float(np.dot(X[i].astype(np.float64), T[e].astype(np.float64))) for e in cols)
                  for i in range(len(X))}
        per_task[t] = sorted(scores.items(), key=lambda x: x[1], reverse=True)  # stable: ties to lower row
    chosen = {}
    while len(chosen) < b:
        for t in per_task:
            if len(chosen) >= b:
                break
            idx, score = per_task[t].pop(0)
            chosen.setdefault(idx, score)
    return list(chosen)


def test_doctests():
    assert doctest.testmod(tk_mod).failed == 0


def test_round_robin_is_the_default_and_matches_the_paper_reference():
    rng = np.random.default_rng(0)
    X = _unit(rng.standard_normal((400, 16)))
    T = _unit(rng.standard_normal((7, 16)))
    tasks = ["gsm", "code", "gsm", "mmlu", "code", "gsm", "mmlu"]
    for b in (1, 7, 50, 399):
        sel = get_selector("target_knn").select(X, b, target=T, target_tasks=tasks)
        assert sel.diagnostics["aggregate"] == "round_robin" and sel.diagnostics["target_tasks"] == 3
        assert sel.indices.tolist() == rds_plus_reference(X, T, tasks, b), b
    # without task labels the target is one task: the top-b by max similarity
    one = get_selector("target_knn").select(X, 30, target=T)
    assert one.indices.tolist() == rds_plus_reference(X, T, ["t"] * 7, 30)


def test_a_task_with_many_examples_gets_no_more_turns_than_one_with_few():
    # task "a": 6 examples near axis 0; task "b": 1 example near axis 1; 30 documents near each axis
    rng = np.random.default_rng(2)
    ax = np.eye(8)
    X = np.concatenate([_unit(ax[0] + 0.3 * rng.standard_normal((30, 8))),
                        _unit(ax[1] + 0.3 * rng.standard_normal((30, 8)))])
    T = np.concatenate([_unit(ax[0] + 0.3 * rng.standard_normal((6, 8))), _unit(ax[1][None, :])])
    picks = get_selector("target_knn").select(X, 20, target=T, target_tasks=["a"] * 6 + ["b"]).indices
    assert int((picks < 30).sum()) == 10 and int((picks >= 30).sum()) == 10


def test_every_target_task_gets_its_share_unlike_the_centroid():
    # 3 target tasks of one example each in 3 directions; 20 pool documents near each; the pool also has 60
    # documents near the targets' centroid. RDS+ takes the nearest to each task in turn; the centroid the middle.
    rng = np.random.default_rng(1)
    axes = np.eye(8)[:3]
    near = [_unit(a + 0.05 * rng.standard_normal((20, 8))) for a in axes]
    middle = _unit(axes.mean(axis=0) + 0.05 * rng.standard_normal((60, 8)))
    X = np.concatenate(near + [middle])
    T = _unit(axes)
    rr = get_selector("target_knn").select(X, 30, target=T, target_tasks=["x", "y", "z"]).indices
    assert [int((rr // 20 == k).sum()) for k in range(3)] == [10, 10, 10]
    mean = get_selector("target_knn", aggregate="mean").select(X, 30, target=T).indices
    assert (mean >= 60).all()
    mx = get_selector("target_knn", aggregate="max").select(X, 30, target=T)
    assert (mx.indices < 60).all() and np.all(np.diff(mx.scores) <= 1e-9)


def weighted_mean_reference(folder, texts):
    """RDS+'s pooling as the authors' compute_influence_cosinesim.py computes it, one sequence at a time: the
    last hidden states weighted by position 1..L over their sum, then L2-normalized."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(folder))
    lm = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    out = []
    for t in texts:
        enc = tok(t, return_tensors="pt")
        with torch.no_grad():
            h = lm(**enc, output_hidden_states=True)["hidden_states"][-1]
        w = torch.arange(h.size(1)).unsqueeze(0) + 1
        w = w / w.sum(dim=1, keepdim=True)
        e = torch.sum(h * w.unsqueeze(-1), dim=1)[0]
        out.append((e / torch.linalg.vector_norm(e)).numpy())
    return np.stack(out)


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
    texts = ["the mill ground wheat", "def f(): return 1", "rye for the valley and the mill"]
    X = emb.embed(texts)  # batched: sequences of different lengths padded together
    assert X.shape == (3, 32) and np.allclose((X ** 2).sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(X, weighted_mean_reference(tmp_path / "lm", texts), atol=1e-5)
    sel = get_selector("target_knn").select(X, 1, target=emb.embed(["the mill ground wheat"]))
    assert sel.indices.tolist() == [0]
