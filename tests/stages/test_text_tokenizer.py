"""Tokenizers loaded for `mix`: settings saved inside a user's tokenizer.json must not cut documents."""
from __future__ import annotations

from gristmill.stages.mix import text_tokenizer
from gristmill.stages.text_tokenizer import load_tokenizer, train_tokenizer

TEXT = "The mill ground wheat and rye for the whole valley until 1950, every autumn. " * 20


def test_saved_truncation_and_padding_are_turned_off(tmp_path):
    tok = train_tokenizer([TEXT] * 50, 300, tmp_path / "train" / "tokenizer.json")
    full = len(tok.encode(TEXT).ids)
    assert full > 8
    tok.enable_truncation(max_length=8)
    tok.enable_padding(length=8, pad_id=0, pad_token="<|endoftext|>")
    tok.save(str(tmp_path / "tokenizer.json"))
    assert len(load_tokenizer(tmp_path).encode("a").ids) == 1  # no padding to 8
    assert len(load_tokenizer(tmp_path).encode(TEXT).ids) == full  # no truncation to 8
    assert len(text_tokenizer(str(tmp_path / "tokenizer.json")).encode_batch([TEXT])[0].ids) == full
