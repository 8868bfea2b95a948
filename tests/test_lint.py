"""ruff (pyflakes, pycodestyle, import order, complexity; settings in pyproject.toml) is clean on the tree."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_is_clean_on_the_tree():
    p = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", str(REPO)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "ruff found problems (`.venv/bin/ruff check --fix .` fixes some):\n" + p.stdout[-4000:]
