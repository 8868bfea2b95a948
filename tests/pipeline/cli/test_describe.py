"""`gristmill describe` shows the plan without Spark and fails early on a missing column."""
import subprocess
import sys

import pytest
import yaml
from helpers import REPO


def describe(path, *extra):
    return subprocess.run([sys.executable, "-m", "gristmill.pipeline.cli", "describe", str(path), *extra],
                          capture_output=True, text=True)


def pipeline_configs():
    """Every shipped pipeline config (training configs have no `input:` and go to `gristmill train`;
    experiment configs have `clean:` arms and go to `gristmill experiment`)."""
    return [p for p in sorted((REPO / "configs").glob("*.yaml"))
            if "input" in (c := yaml.safe_load(p.read_text())) and "clean" not in c]


def test_shipped_experiment_config_loads():
    from gristmill.trainer_hooks.experiment import load_experiment
    cfg = load_experiment(REPO / "configs" / "experiment.yaml")
    assert cfg.train.seeds >= 3


def test_describe_plan_filter_config():
    r = describe(REPO / "configs" / "plan_filter.yaml")
    assert r.returncode == 0, r.stderr
    assert "plan-filter config" in r.stdout and "fineweb_line_punct_ratio" in r.stdout and "4 buckets" in r.stdout


def test_describe_quickstart_lists_stages_and_columns():
    r = describe(REPO / "configs" / "quickstart.yaml")
    assert r.returncode == 0, r.stderr
    assert "01-normalize" in r.stdout and "dedup_exact" in r.stdout and "duplicate_of" in r.stdout
    assert "08-domain" in r.stdout and "09-rephrase" in r.stdout and "10-select" in r.stdout and "11-mix" in r.stdout


@pytest.mark.parametrize("config", pipeline_configs(), ids=lambda p: p.name)
def test_every_shipped_config_describes(config):
    r = describe(config)
    assert r.returncode == 0, f"{config.name}: {r.stderr}"


def test_describe_applies_set_overrides():
    r = describe(REPO / "configs" / "quickstart.yaml", "--set", "stages.langid.min_score=0.7",
                 "--set", "select.budget=0.25")
    assert r.returncode == 0, r.stderr
    assert "min_score=0.7" in r.stdout and "budget=0.25" in r.stdout
    r = describe(REPO / "configs" / "quickstart.yaml", "--set", "stages.nosuch.x=1")
    assert r.returncode == 2 and "no stage 'nosuch'" in r.stderr


def test_describe_rejects_stage_whose_input_column_is_missing(tmp_path, capsys):
    from gristmill.pipeline.cli import main
    from gristmill.pipeline.stage import Stage, StageConfig

    class NeedsDomain(Stage):  # registered in this process, so describe runs in-process below
        name = "needs_domain_test"
        Config = StageConfig
        requires = ("id", "text", "domain")

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"input": {"path": "x.jsonl"}, "stages": [{"normalize": {}},
                                                                           {"needs_domain_test": {}}]}))
    assert main(["describe", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "needs column(s) ['domain']" in err and "add the stage that produces them" in err
    # with the stage that makes `domain` in front of it, the same plan passes
    cfg.write_text(yaml.safe_dump({"input": {"path": "x.jsonl"}, "stages": [
        {"domain": {"from": "source"}}, {"needs_domain_test": {}}]}))
    assert main(["describe", str(cfg)]) == 0
    assert "adds domain" in capsys.readouterr().out


def test_describe_a_training_config(capsys):
    from helpers import REPO

    from gristmill.pipeline.cli import main
    assert main(["describe", str(REPO / "configs" / "train_tiny.yaml")]) == 0
    out = capsys.readouterr().out
    assert "unknown key" not in out
    assert "training config" in out and "mixture runs/mix-demo/mixture.json" in out and "steps 60" in out
    assert "schedule: static" in out and "lr_schedule=wsd" in out


def test_describe_an_experiment_config(capsys):
    from helpers import REPO

    from gristmill.pipeline.cli import main
    assert main(["describe", str(REPO / "configs" / "experiment.yaml")]) == 0
    out = capsys.readouterr().out
    assert "unknown key" not in out
    assert "experiment config" in out and "arms:" in out and "clean+fl" in out
    assert "normalize" in out and "dedup_minhash" in out and "seeds 5" in out and "facility_location" in out


def test_describe_shows_a_stage_scope():
    r = describe(REPO / "configs" / "quickstart.yaml")
    assert r.returncode == 0, r.stderr
    assert "03-langid   where=source <> 'python_code'" in r.stdout
    assert "07-quality  where=source = 'python_code'" in r.stdout
