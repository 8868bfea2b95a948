"""The install and the standard-library trap around `selectors`."""
import subprocess
import sys

from helpers import REPO


def test_stdlib_selectors_not_shadowed_from_repo_root():
    # Anything started in the repo root (pyspark's workers included) imports asyncio -> selectors.
    r = subprocess.run([sys.executable, "-c", "import asyncio, selectors; selectors.DefaultSelector"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_subpackages_import_from_installed_copy():
    code = ("import gristmill.pipeline.cli, gristmill.pipeline.runner, gristmill.stages.normalize, "
            "gristmill.pipeline.stage as s; import selectors; assert hasattr(selectors, 'DefaultSelector'); "
            "import importlib; [importlib.import_module(m) for m in "
            "('gristmill.selectors', 'gristmill.trainer_hooks', 'gristmill.stages', 'gristmill.pipeline')]; "
            "print(s.__file__)")
    r = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_console_script_help():
    r = subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "run" in r.stdout and "inspect" in r.stdout


def test_regular_wheel_install_has_every_subpackage(tmp_path):
    # An editable install can hide a packaging mistake; build the real wheel and import from it.
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path / "w"), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import zipfile
    wheel = next((tmp_path / "w").glob("gristmill-*.whl"))
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    names = zipfile.ZipFile(wheel).namelist()
    assert not any(n.startswith("selectors/") for n in names)
    assert "gristmill/pipeline/log4j2.properties" in names
    # the experiment's subpackage and the target sets it scores by default
    assert {"gristmill/trainer_hooks/experiment/arms.py", "gristmill/trainer_hooks/experiment/eval_sets/wiki.json",
            "gristmill/trainer_hooks/experiment/eval_sets/math.json"} <= set(names)
    code = ("import gristmill.pipeline.runner, gristmill.stages.dedup.exact, gristmill.pipeline.stage as s;"
            "import selectors; selectors.DefaultSelector; print(s.__file__)")
    r = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); "
                        f"sys.path[:] = [p for p in sys.path if 'site-packages' not in p or 'venv' in p]; {code}"],
                       cwd="/", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert str(tmp_path / "site") in r.stdout


def test_only_gold_set_comparisons_read_the_developers_data_folder():
    """A clone has no ../shared: tests that need it skip, so only comparisons with the larger gold sets may use
    it; everything else reads tests/data/ or the quickstart corpus."""
    import re

    from helpers import REPO
    allowed = {"tests/stages/quality/test_quality.py",  # hand-checked CommonCrawl pages (per-page CC licences)
               "tests/pipeline/inputs/test_warc.py",  # the real Common Crawl WARC files (issue 18 asks for them)
               "tests/stages/extract/test_extract.py",  # the real CommonCrawl HTML pages
               "tests/stages/dedup/test_signatures.py"}  # estimates vs exact Jaccard on the 697 real web pages
    users = {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py")
             if p.name not in ("conftest.py", "helpers.py", "test_package.py") and re.search(r"\bshared_data\b|SHARED_DATA", p.read_text())}
    assert users <= allowed, f"these tests read ../shared: {sorted(users - allowed)}; use tests/data/ (see its README)"
