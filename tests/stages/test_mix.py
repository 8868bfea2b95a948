"""domain and mix stages through the real local SparkSession on a small real sample of the domain mix."""
import gzip
import json
import warnings

import numpy as np
import pytest

from gristmill.pipeline.stage import StageError
from gristmill.stages.mix import MixConfig, cap_epochs, choose_weights
from gristmill.trainer_hooks.mixture import load_mixture
from gristmill.trainer_hooks.schedules import MixtureWarning

PER_DOMAIN = 12


@pytest.fixture(scope="module")
def sample():
    from helpers import TEST_DATA
    """12 real documents from each of five domains, shaped like reader output."""
    rows, seen = [], {}
    with gzip.open(TEST_DATA / "domains" / "domain_mix_permissive.jsonl.gz", "rt") as fh:
        for line in fh:
            d = json.loads(line)
            if d["domain"] in ("speech", "code", "math", "patent", "review") and seen.get(d["domain"], 0) < PER_DOMAIN:
                seen[d["domain"]] = seen.get(d["domain"], 0) + 1
                rows.append({"id": d["id"], "text": d["text"][:3000], "source": d["domain"],
                             "url": (d.get("meta") or {}).get("url"), "label": d["domain"]})
    return rows


def test_domain_from_source_and_from_url_rules(spark, sample, tmp_path):
    from helpers import run_stage
    kept, rej, _ = run_stage(spark, "domain", {"from": "source"}, sample[:10], tmp_path)
    assert not rej and all(r["domain"] == r["label"] for r in kept)
    rows = [{"id": "1", "text": "a", "url": "https://en.wikipedia.org/wiki/Spark"},
            {"id": "2", "text": "b", "url": "https://github.com/apache/spark/blob/x.py"},
            {"id": "3", "text": "c", "url": "https://example.com/"},
            {"id": "4", "text": "d", "url": None}]
    rules = {r"wikipedia\.org": "wikipedia", r"github\.com": "code"}
    kept, rej, _ = run_stage(spark, "domain", {"from": "url", "rules": rules}, rows, tmp_path)
    assert {r["id"]: r["domain"] for r in kept} == {"1": "wikipedia", "2": "code", "3": "other", "4": "other"}
    kept, rej, _ = run_stage(spark, "domain", {"from": "url", "rules": rules, "drop_unlabelled": True}, rows, tmp_path)
    assert sorted(r["id"] for r in rej) == ["3", "4"] and {r["drop_reason"] for r in rej} == {"domain:unlabelled"}


def test_domain_config_errors():
    from gristmill.stages.domain import DomainConfig
    with pytest.raises(ValueError, match="needs `rules`"):
        DomainConfig.model_validate({"from": "url"})
    with pytest.raises(ValueError, match="not a valid regex"):
        DomainConfig.model_validate({"from": "source", "rules": {"(": "x"}})
    with pytest.raises(ValueError, match="train-domain"):
        DomainConfig.model_validate({"from": "fasttext"})


def test_train_domain_then_classify_with_fasttext(spark, sample, tmp_path):
    from helpers import run_stage

    from gristmill.pipeline.cli.train_domain import train_domain_classifier
    train_rows = [(r["label"], r["text"]) for r in sample]
    model = tmp_path / "dom.bin"
    metrics = train_domain_classifier(train_rows, model, holdout=0.0, epochs=50, lr=1.0, max_chars=1500)
    assert metrics["labels"] == ["code", "math", "patent", "review", "speech"]
    kept, _, _ = run_stage(spark, "domain", {"from": "fasttext", "model": str(model)}, sample, tmp_path)
    right = sum(r["domain"] == r["label"] for r in kept)
    assert right / len(kept) > 0.9  # seen documents: the classifier must at least fit them
    assert all(0 < r["domain_score"] <= 1.0001 for r in kept)
    with pytest.raises(StageError, match="two different domains"):
        from gristmill.pipeline.cli.train_domain import read_labelled
        p = tmp_path / "one.jsonl"
        p.write_text(json.dumps({"text": "x", "domain": "a"}) + "\n")
        read_labelled([str(p)], "text", "domain")


def test_mix_writes_shards_and_mixture_json(spark, sample, tmp_path):
    from helpers import docs_df, run_stage
    df = docs_df(spark, [{**r, "domain": r["label"]} for r in sample]).repartition(3)
    kept, rej, stats = run_stage(spark, "mix", {"weights": "temperature", "temperature": 2.0, "vocab_size": 300,
                                                "heldout_fraction": 0.2}, df, tmp_path)
    assert len(kept) == len(sample) and not rej
    m = load_mixture(tmp_path / "stage-mix" / "mixture.json")
    assert set(m.domains) == {"speech", "code", "math", "patent", "review"}
    assert m.dtype == "uint16" and m.vocab_size == 300 and m.tokenizer["eos_id"] == 0
    assert sum(m.weights.values()) == pytest.approx(1.0)
    for d in m.domains.values():
        train = np.concatenate([np.fromfile(f, dtype=np.uint16) for f in d.files])
        assert len(train) == d.tokens and train.max() < 300
        assert (train == 0).sum() == d.docs  # one end-of-text per document
    # temperature 2 flattens: the smallest domain gets more than its natural share
    tokens = m.tokens
    small = min(tokens, key=tokens.get)
    assert m.weights[small] > tokens[small] / sum(tokens.values())
    assert stats["tokens"] == tokens
    # the tokenizer was trained on the data and saved with the run: decoding gives the text back
    from gristmill.stages.text_tokenizer import load_tokenizer
    tok = load_tokenizer(tmp_path / "stage-mix" / "tokenizer.json")
    code = m.domains["code"]
    first = np.fromfile(code.files[0], dtype=np.uint16)
    doc = tok.decode(first[:int(np.argmax(first == 0))].tolist())
    assert doc and doc in {r["text"] for r in sample if r["label"] == "code"}


def test_mix_weights_and_epoch_cap():
    tokens = {"web": 1000, "math": 100, "empty": 0}
    with pytest.warns(MixtureWarning, match="sum to 2"):
        w = choose_weights(tokens, MixConfig(weights={"web": 1, "math": 1, "empty": 0}))
    assert w == pytest.approx({"web": 0.5, "math": 0.5, "empty": 0.0})
    with pytest.raises(StageError, match="zero training tokens"):
        choose_weights(tokens, MixConfig(weights={"web": 0.5, "math": 0.4, "empty": 0.1}))
    with pytest.raises(StageError, match="does not have"):
        choose_weights(tokens, MixConfig(weights={"law": 1.0}))
    with pytest.warns(MixtureWarning, match="no weight to domain"):
        choose_weights(tokens, MixConfig(weights={"web": 1.0}))
    assert choose_weights(tokens, MixConfig())["math"] == pytest.approx(100 / 1100)
    w, e = cap_epochs({"web": 0.5, "math": 0.5, "empty": 0.0}, tokens, 1100, 4.0)
    assert e["math"] == pytest.approx(4.0) and w["web"] == pytest.approx(1 - 400 / 1100)
    with pytest.raises(StageError, match="lower budget_tokens"):
        cap_epochs({"web": 0.5, "math": 0.5}, {"web": 10, "math": 10}, 1000, 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cap_epochs({"web": 0.5, "math": 0.5}, {"web": 1000, "math": 1000}, 1000, 4.0)


def test_regmix_weights_read_a_proposal(tmp_path):
    p = tmp_path / "regmix.json"
    p.write_text(json.dumps({"proposal": {"web": 0.25, "math": 0.75}}))
    w = choose_weights({"web": 10, "math": 10}, MixConfig(weights="regmix", regmix_result=str(p)))
    assert w == {"web": 0.25, "math": 0.75}
    with pytest.raises(StageError, match="run `gristmill regmix`"):
        choose_weights({"web": 10}, MixConfig(weights="regmix", regmix_result=str(tmp_path / "none.json")))


def test_doctests_of_the_mix_maths():
    import doctest

    from gristmill.stages import mix
    assert doctest.testmod(mix).failed == 0


# -- without ../shared: hand-written documents ----------------------------------------------------------------
def _words(rng, vocab, n):
    return " ".join(rng.choice(vocab, n))


def test_tokenizer_sample_spans_the_whole_sorted_corpus(spark, tmp_path):
    """limit(N) would train the tokenizer on the first domain only; the seeded sample sees every domain."""
    from helpers import docs_df, run_stage

    from gristmill.stages.text_tokenizer import load_tokenizer
    rng = np.random.default_rng(0)
    first, last = ["apple", "banana", "cherry"], ["quokka", "wombat", "platypus"]
    rows = [{"id": f"a{i:03d}", "text": _words(rng, first, 40), "domain": "a"} for i in range(150)]
    rows += [{"id": f"b{i:03d}", "text": _words(rng, last, 40), "domain": "b"} for i in range(150)]
    df = docs_df(spark, rows).coalesce(1)  # sorted, one partition: the head is domain "a" only
    run_stage(spark, "mix", {"vocab_size": 300, "tokenizer_sample_docs": 30, "heldout_fraction": 0.0}, df,
              tmp_path)
    tok = load_tokenizer(tmp_path / "stage-mix" / "tokenizer.json")
    for w in first + last:
        assert len(tok.encode(" " + w).ids) == 1, w  # every frequent word of both domains is one token


def test_mixture_json_is_exactly_the_schema(spark, tmp_path):
    from helpers import docs_df, run_stage

    from gristmill.trainer_hooks.mixture import MixtureSpec
    rows = [{"id": str(i), "text": f"document number {i} about {d}", "domain": d}
            for i, d in enumerate(["web", "code"] * 20)]
    _, _, stats = run_stage(spark, "mix", {"vocab_size": 260, "heldout_fraction": 0.0, "max_epochs": 3},
                            docs_df(spark, rows), tmp_path)
    raw = json.loads((tmp_path / "stage-mix" / "mixture.json").read_text())
    assert MixtureSpec.from_json(raw, "x").to_json() == raw  # nothing written outside the schema
    assert raw["max_epochs"] == 3 and raw["origin_ratio"] is None  # no origin column: no origin mixing
    assert set(raw["domains"]) == {"web", "code"}


def test_real_and_synthetic_rows_mix_one_to_one_by_default(spark, tmp_path):
    """WRAP's default: each domain's weight is split 1:1 between real and rephrased text, the rephrased part
    equally across styles; an explicit ratio and style weights are honoured."""
    from helpers import docs_df, run_stage

    from gristmill.trainer_hooks.mixture import load_mixture
    rows = []
    for i in range(30):
        rows.append({"id": f"w{i}", "text": f"web page {i} with some words", "domain": "web", "origin": "real"})
        rows.append({"id": f"c{i}", "text": f"def f{i}(): return {i}", "domain": "code", "origin": None})
    for i in range(10):
        for style in ("qa", "easy"):
            rows.append({"id": f"w{i}-{style}", "text": f"rephrased page {i} in {style} words", "domain": "web",
                         "origin": "synthetic", "style": style})
    df = docs_df(spark, rows)
    params = {"vocab_size": 260, "heldout_fraction": 0.0, "weights": {"web": 0.8, "code": 0.2}}
    run_stage(spark, "mix", params, df, tmp_path / "a")
    m = load_mixture(tmp_path / "a" / "stage-mix" / "mixture.json")
    assert m.weights == pytest.approx({"web": 0.4, "web:synthetic:qa": 0.2, "web:synthetic:easy": 0.2,
                                       "code": 0.2})
    assert m.spec.origin_ratio == {"real": 0.5, "synthetic": 0.5}
    assert m.spec.style_weights == {"easy": 0.5, "qa": 0.5}
    e = m.spec.domains["web:synthetic:qa"]
    assert (e.group, e.origin, e.style, e.docs) == ("web", "synthetic", "qa", 10)
    assert m.spec.domains["code"].origin == "real" and m.spec.domains["code"].group is None
    run_stage(spark, "mix", {**params, "origin_ratio": {"real": 3, "synthetic": 1},
                             "style_weights": {"qa": 1.0, "easy": 0.0}}, df, tmp_path / "b")
    m = load_mixture(tmp_path / "b" / "stage-mix" / "mixture.json")
    assert m.weights == pytest.approx({"web": 0.6, "web:synthetic:qa": 0.2, "web:synthetic:easy": 0.0,
                                       "code": 0.2})
    bad = docs_df(spark, [{"id": "x", "text": "t", "domain": "web", "origin": "fake"}])
    with pytest.raises(Exception, match="id='x' has origin='fake'"):
        run_stage(spark, "mix", params | {"weights": "natural"}, bad, tmp_path / "c")
