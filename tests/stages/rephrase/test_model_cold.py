"""The default rephrase model converted from an empty cache, in a fresh process (what a new user's first run does).

Every other rephrase test shares the converted folder in the user cache, so a conversion that fails on a cold
machine (transformers 5 needed `accelerate` to read the GGUF file, once a dev-only dependency) went unseen."""
import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from gristmill.stages.rephrase.model import default_model_dir

folder = default_model_dir()
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
ids = tok.apply_chat_template([{"role": "user", "content": "Say hello."}], add_generation_prompt=True,
                              return_tensors="pt", return_dict=True)
out = model.generate(**ids, max_new_tokens=8, do_sample=False)
print(json.dumps({"folder": str(folder), "params": sum(p.numel() for p in model.parameters()),
                  "new_tokens": int(out.shape[1] - ids["input_ids"].shape[1])}))
"""


@pytest.mark.slow
def test_default_model_converts_from_empty_caches(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRISTMILL_", "HF_", "XDG_", "TRANSFORMERS_"))}
    env.update(GRISTMILL_CACHE=str(tmp_path / "gristmill"), XDG_CACHE_HOME=str(tmp_path / "xdg"),
               HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    p = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["folder"].startswith(str(tmp_path / "gristmill")), got
    assert 130e6 < got["params"] < 140e6  # SmolLM2-135M
    assert got["new_tokens"] > 0
    assert not list((tmp_path / "gristmill" / "models").glob(".*tmp*")), "a temporary conversion folder was left"
