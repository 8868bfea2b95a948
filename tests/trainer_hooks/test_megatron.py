"""`gristmill export megatron`: each domain's documents read back by megatron-core's own IndexedDataset, token for
token, with the mixture's tokenizer and with another Hugging Face tokenizer; and the blend line."""
import gzip
import json

import numpy as np
import pytest
from helpers import TEST_DATA

from gristmill.pipeline.cli import main as cli_main
from gristmill.stages.text_tokenizer import train_tokenizer
from gristmill.trainer_hooks.mixture import DomainEntry, MixtureSpec, save_mixture

IndexedDataset = pytest.importorskip("megatron.core.datasets.indexed_dataset").IndexedDataset


def _documents(tok, texts, eos=0):
    """What mix packs (ids + EOS per text), cut after every EOS: a text that contains the literal end-of-text
    string (one code file of the sample does) holds an EOS id of its own, so it is two documents in the shards."""
    ids = [i for t in texts for i in tok.encode(t).ids + [eos]]
    ends = [k + 1 for k, i in enumerate(ids) if i == eos]
    return [ids[a:b] for a, b in zip([0] + ends, ends)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder with a mixture of three real domains (committed sample), mix's layout: ids + EOS per doc."""
    docs = {"code": [], "math": [], "web:synthetic:qa": []}
    with gzip.open(TEST_DATA / "domains" / "domain_mix_permissive.jsonl.gz", "rt") as fh:
        for line in fh:
            d = json.loads(line)
            key = {"code": "code", "math": "math", "review": "web:synthetic:qa"}.get(d["domain"])
            if key and len(docs[key]) < 12:
                docs[key].append(d["text"])
    folder = tmp_path_factory.mktemp("run")
    tok = train_tokenizer((t for ts in docs.values() for t in ts), 500, folder / "tokenizer.json")
    entries = {}
    for i, (name, texts) in enumerate(docs.items()):
        files = {}
        for split, part in (("train", texts[:-2]), ("heldout", texts[-2:])):
            rel = f"shards/{split}/{i}.bin"
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            np.concatenate([np.array(e.ids + [0], dtype=np.uint16) for e in tok.encode_batch(part)]).tofile(
                folder / rel)
            files[split] = [rel]
        entries[name] = DomainEntry(files=files["train"], tokens=1, weight=[0.5, 0.3, 0.2][i],
                                    heldout_files=files["heldout"], heldout_tokens=1)
    save_mixture(MixtureSpec(dtype="uint16", tokenizer={"path": "tokenizer.json", "vocab_size": 500, "eos_id": 0},
                             budget_tokens=1, domains=entries), folder / "mixture.json")
    return folder, docs


def test_each_domain_reads_back_with_megatron_token_for_token(run, tmp_path, capsys):
    folder, docs = run
    out = tmp_path / "mega"
    assert cli_main(["export", "megatron", str(folder), "--out", str(out)]) == 0
    assert "--data-path" in capsys.readouterr().out
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    for name, prefix in (("code", "code"), ("math", "math"), ("web:synthetic:qa", "web_synthetic_qa")):
        for split, texts in (("train", docs[name][:-2]), ("heldout", docs[name][-2:])):
            ds = IndexedDataset(str(out / (prefix + ("" if split == "train" else "_heldout"))))
            want = _documents(tok, texts)
            assert len(ds) == len(want) >= len(texts)
            assert [ds[i].tolist() for i in range(len(ds))] == want
            assert ds[0].dtype == np.uint16
    blend = (out / "blend.txt").read_text().splitlines()
    assert blend[0] == f"--data-path 0.5 {out / 'code'} 0.3 {out / 'math'} 0.2 {out / 'web_synthetic_qa'}"
    assert blend[1].startswith("--valid-data-path 0.5 ")


def test_export_with_another_tokenizer(run, tmp_path):
    folder, docs = run
    other = train_tokenizer((t for ts in docs.values() for t in ts), 300, tmp_path / "other" / "tokenizer.json")
    other.enable_truncation(max_length=4)  # must not cut documents (saved truncation is switched off on load)
    other.save(str(tmp_path / "other" / "tokenizer.json"))
    other.no_truncation()
    out = tmp_path / "mega2"
    assert cli_main(["export", "megatron", str(folder), "--out", str(out), "--tokenizer",
                     str(tmp_path / "other")]) == 0
    ds = IndexedDataset(str(out / "math"))
    assert [ds[i].tolist() for i in range(len(ds))] == [other.encode(t).ids + [0] for t in docs["math"][:-2]]
    assert json.loads((out / "export.json").read_text())["domains"]["math"]["train"]["documents"] == 10
