"""`gristmill describe` shows the plan without Spark and fails early on a missing column."""
import subprocess
import sys

import yaml

from helpers import REPO


def describe(path):
    return subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "describe", str(path)],
                          capture_output=True, text=True)


def test_describe_quickstart_lists_stages_and_columns():
    r = describe(REPO / "configs" / "quickstart.yaml")
    assert r.returncode == 0, r.stderr
    assert "01-normalize" in r.stdout and "dedup_exact" in r.stdout and "duplicate_of" in r.stdout


def test_describe_rejects_stage_whose_input_column_is_missing(tmp_path):
    from gristmill.pipeline.stage import Stage, StageConfig

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"path": "x.jsonl"}, "stages": [{"normalize": {}}]}))
    assert describe(cfg).returncode == 0
    class NeedsDomain(Stage):  # registered only in this process, to exercise check_columns
        name = "needs_domain_test"
        Config = StageConfig
        requires = ("id", "text", "domain")

    import pytest
    from gristmill.pipeline.stage import StageError
    with pytest.raises(StageError, match=r"needs column\(s\) \['domain'\].*add the stage that produces them"):
        NeedsDomain(StageConfig()).check_columns(["id", "text", "source"])
