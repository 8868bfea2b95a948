"""Tokenizers for the `mix` stage: a local tokenizer.json, or a byte-level BPE trained on the run's data.

Nothing is downloaded: a Hugging Face tokenizer folder works when it holds tokenizer.json."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from gristmill.pipeline.stage import StageError

EOS = "<|endoftext|>"
_EOS_CANDIDATES = (EOS, "</s>", "<eos>", "<|end_of_text|>", "[SEP]")


def tokenizer_file(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.exists():
        raise StageError(f"tokenizer {p} does not exist; give a tokenizer.json (or a folder holding one), "
                         f"or leave `tokenizer` empty to train one on the data")
    return p


def load_tokenizer(path: str | Path):
    """The tokenizer saved at `path`, with any truncation or padding saved in the file turned off: a
    tokenizer.json saved after `enable_truncation(8)` would otherwise cut every document to 8 tokens."""
    from tokenizers import Tokenizer
    p = tokenizer_file(path)
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as e:  # tokenizers raises a bare Exception on malformed files
        raise StageError(f"{p} is not a tokenizers JSON file ({e})") from None
    tok.no_truncation()
    tok.no_padding()
    return tok


def eos_id(tok) -> int:
    for name in _EOS_CANDIDATES:
        i = tok.token_to_id(name)
        if i is not None:
            return int(i)
    raise StageError(f"the tokenizer has none of the end-of-text tokens {list(_EOS_CANDIDATES)}; "
                     f"documents are separated by one, so add it to the tokenizer")


def train_tokenizer(texts: Iterable[str], vocab_size: int, out: Path):
    """Byte-level BPE (GPT-2 style, so every byte is representable), EOS at id 0; saved to `out`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator((t for t in texts if t), trainer=trainer)
    out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(out))
    return tok
