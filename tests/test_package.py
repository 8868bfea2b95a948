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


def test_no_test_reads_the_developers_data_folder():
    """A clone has no ../shared: a test that needed it would skip there, so none may. Tests read tests/data/ or
    the quickstart corpus; comparisons with the developers' gold sets live in benchmarks/ (benchmarks/gold)."""
    import re

    from helpers import REPO
    reads_shared = re.compile(r"\bshared_data\b|SHARED_DATA|GRISTMILL_SHARED|/ \"shared\"|[\"']\.\./shared")
    users = {str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py")
             if p.name != "test_package.py" and reads_shared.search(p.read_text())}
    assert not users, f"these tests read ../shared: {sorted(users)}; use tests/data/ (see its README)"
