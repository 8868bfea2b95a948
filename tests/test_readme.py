"""The README is the manual: its commands exist and answer --help, its cheap examples run, its stage table is
what scripts/stage_table.py generates, and the files it links to exist."""
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import yaml
from helpers import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def gristmill(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_every_command_has_a_section_and_every_section_a_command():
    from gristmill.pipeline.cli import commands
    sections = re.findall(r"^### ([a-z-]+)$", README.split("## Commands", 1)[1].split("\n## ", 1)[0], flags=re.M)
    assert sorted(sections) == sorted(commands())


@pytest.mark.parametrize("command", ["run", "describe", "inspect", "report", "submit", "embed", "select", "train",
                                     "regmix", "experiment", "plan-filter", "train-quality",
                                     "train-domain"])
def test_command_help(command):
    r = gristmill(command, "--help")
    assert r.returncode == 0 and "usage: gristmill " + command in r.stdout, r.stderr
    assert f".venv/bin/gristmill {command} " in README  # each has an example line


def test_describe_lines_in_the_readme_run():
    lines = [ln.split("#")[0].strip() for ln in README.splitlines() if ln.startswith(".venv/bin/gristmill describe ")]
    assert lines
    for line in lines:
        r = gristmill(*shlex.split(line)[1:])  # without ".venv/bin/gristmill"
        assert r.returncode == 0, (line, r.stderr)


def test_the_config_example_validates():
    from gristmill.pipeline.config import parse_config
    example = next(b for b in blocks("yaml") if "stages:" in b)
    cfg, stages = parse_config(yaml.safe_load(example), "README.md")
    assert [cls.name for cls, _ in stages][-2:] == ["select", "mix"]


def test_the_pytorch_snippet_runs(tmp_path, monkeypatch):
    from helpers import build_mixture
    rng = np.random.default_rng(0)
    arrays = {d: (rng.integers(1, 300, 5000).astype(np.uint16), rng.integers(1, 300, 500).astype(np.uint16))
              for d in ("docs", "code", "readme")}
    build_mixture(tmp_path / "runs" / "quickstart", arrays, vocab_size=300)
    monkeypatch.chdir(tmp_path)
    (snippet,) = [b for b in blocks("python") if "MixtureBatches" in b]
    exec(compile(snippet, "README.md", "exec"), {})


def test_stage_table_is_current():
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "stage_table.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    from gristmill.pipeline.stage import get_stage, known_stages
    for name in known_stages():  # other tests define stages of their own; only gristmill's are documented
        if get_stage(name).__module__.startswith("gristmill."):
            assert f"| **`{name}`**" in README
    # the reasons are read from the code: a refactor that hides them from the reader must not empty the column
    for reason in ("gopher:too_few_words", "gopher:dup_<n>gram", "fineweb:line_punct_ratio", "c4:no_lines_left",
                   "url:blocklist"):
        assert f"`{reason}`" in README, reason


def test_linked_files_exist():
    links = re.findall(r"\]\(([^)#:]+)\)", README)
    assert links
    missing = [p for p in links if not (REPO / p).exists()]
    assert missing == []
