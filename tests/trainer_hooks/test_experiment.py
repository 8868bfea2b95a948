"""`gristmill experiment` in miniature: the quickstart corpus (every Python install has it), a one-layer GPT,
a few steps, two seeds. Checks the outcome's structure and that the arms trained on what they were meant to."""
import json
from pathlib import Path

import duckdb
import pytest
import yaml

from gristmill.pipeline.cli import main as gristmill
from gristmill.pipeline.rundir import RunDir
from gristmill.trainer_hooks.experiment import ExperimentConfig, pick_upsample_domain, tokens_to_reach

MINI = {"name": "mini", "input": {"format": "python_env", "limit": 300},
        # a lighter clean than the default (no second MinHash pass): Spark stages dominate the test's time
        "clean": [{"length": {"min_chars": 200, "min_words": 30}}, {"langid": {"languages": ["en"], "min_score": 0.5}},
                  {"dedup_exact": {}}, {"quality": {"rules": ["fineweb"]}}],
        "select": {"budget": 0.5, "max_tokens": 32},
        "heldout": {"fraction": 0.15, "batches": 2},
        # the real rephrase stage (SmolLM2-135M-Instruct on the CPU) on 2 documents, one short chunk each; the
        # answer checks are off so that a 135M model's truncated answers still land in the arm
        "rephrase": {"styles": ["medium"], "sample": 2, "max_chunks": 1, "max_chunk_tokens": 48,
                     "min_chunk_tokens": 8, "max_new_tokens": 24, "keep_truncated": True, "min_length_ratio": 0,
                     "echo_similarity": 1, "check_language": False, "check_repetition": False,
                     "check_form": False},
        "upsample": {"factor": 4, "last_fraction": 0.3, "min_share": 0.05},
        "train": {"seeds": 2, "steps": 12, "batch_size": 4, "block_size": 16, "vocab_size": 300,
                  "model": {"n_layer": 1, "n_head": 2, "n_embd": 16}}}


def _ids(folder: Path) -> set[str]:
    return {r[0] for r in duckdb.sql(f"SELECT id FROM read_parquet('{folder}/**/*.parquet')").fetchall()}


def _norm_texts(folder: Path) -> set[str]:
    # the same normalization dedup_exact hashes: case-folded, whitespace collapsed
    q = (f"SELECT trim(regexp_replace(lower(coalesce(text, '')), '\\s+', ' ', 'g')) "
         f"FROM read_parquet('{folder}/**/*.parquet')")
    return {r[0] for r in duckdb.sql(q).fetchall()}


def _mix_input(run: Path) -> Path:
    stages = RunDir(run).finished()
    return RunDir(run).kept(stages[-2]["dir"])  # what the arm's `mix` stage tokenized


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, spark):
    tmp = tmp_path_factory.mktemp("experiment")
    cfg = tmp / "mini.yaml"
    cfg.write_text(yaml.safe_dump({**MINI, "runs_dir": str(tmp / "runs")}))
    assert gristmill(["experiment", str(cfg), "--quiet"]) == 0
    exp = tmp / "runs" / "mini" / "experiment"
    return exp, json.loads((exp / "outcome.json").read_text())


def test_table_has_every_arm_with_loss_over_seeds(outcome):
    exp, out = outcome
    arms = {"raw", "clean", "clean+fl", "clean+random", "clean+rephrased", "clean+repeated", "clean+upsample"}
    assert set(out["arms"]) == arms, out["skipped"]
    doms = out["eval_domains"]
    assert doms, "no domain had held-out windows"
    for arm, a in out["arms"].items():
        assert a["seeds"] == 2
        assert a["tokens_seen"] == 12 * 4 * 16, arm  # equal training tokens
        mean, sd = a["overall"]
        assert 0 < mean < 20 and sd >= 0
        assert set(a["domains"]) == set(doms)
        assert abs(mean - sum(a["domains"][d][0] for d in doms) / len(doms)) < 1e-9
        assert a["curve"][-1][0] == a["tokens_seen"]
        assert a["epochs_by_domain"] and all(e >= 0 for e in a["epochs_by_domain"].values())
    assert set(out["tokens_to_reach_raw_final"]) == arms
    md = (exp / "outcome.md").read_text()
    assert md.startswith("| arm | docs | unique tokens | tokens seen | held-out loss (all) |")
    assert (exp / "outcome.png").stat().st_size > 1000


def test_every_arm_is_scored_on_the_shipped_target_sets(outcome):
    exp, out = outcome
    assert set(out["targets"]) == {"wiki", "math", "code"}
    assert out["split"]["removed_as_eval_targets"] == 0  # the quickstart corpus holds none of them
    for name, t in out["targets"].items():
        assert t["raw_final"] == pytest.approx(out["arms"]["raw"]["targets"][name][0])
        for arm, a in out["arms"].items():
            mean, sd = a["targets"][name]
            assert 0 < mean < 20 and sd >= 0
            r = t["arms"][arm]
            assert r["seeds"] == 2 and 0 <= r["reached"] <= 2 and len(r["per_seed"]) == 2
            # a seed's reach read off its own curve, against raw's mean final loss (reference: the definition)
            curves = a["target_curves"][name]
            for x, curve in zip(r["per_seed"], curves):
                hit = [i for i, (_, y) in enumerate(curve) if y <= t["raw_final"]]
                assert (x is None) == (not hit)
                if hit:
                    i = hit[0]
                    assert (curve[i - 1][0] if i else 0) <= x <= curve[i][0]
    # the raw arm reaches its own mean final loss on at least one seed
    assert all(t["arms"]["raw"]["reached"] >= 1 for t in out["targets"].values())
    md = (exp / "outcome.md").read_text()
    assert "wiki: tokens to raw's loss" in md and "secondary row" in md


def test_a_target_file_without_text_is_named(tmp_path):
    from gristmill.trainer_hooks.experiment import ExperimentError
    from gristmill.trainer_hooks.experiment.arms import write_targets
    bad = tmp_path / "t.jsonl"
    bad.write_text('{"text": "ok"}\n{"body": "no text"}\n')
    cfg = ExperimentConfig(input={"format": "python_env"}, eval=[{"name": "t", "path": str(bad)}])
    with pytest.raises(ExperimentError, match=r"t.jsonl: row 1 has no `text`"):
        write_targets(cfg, tmp_path / "out")


def test_arms_trained_on_what_they_should(outcome):
    exp, out = outcome
    a = out["arms"]
    assert a["raw"]["unique_tokens"] > a["clean"]["unique_tokens"] > a["clean+fl"]["unique_tokens"]
    assert a["clean+fl"]["docs"] == a["clean+random"]["docs"]  # the control is the same size
    assert abs(a["clean+fl"]["docs"] - 0.5 * a["clean"]["docs"]) <= 1
    runs = {arm: Path(v["run"]) for arm, v in a.items()}
    fl, rnd = _ids(_mix_input(runs["clean+fl"])), _ids(_mix_input(runs["clean+random"]))
    assert fl != rnd and fl <= _ids(_mix_input(runs["clean"])) and rnd <= _ids(_mix_input(runs["clean"]))
    assert runs["clean+upsample"] == runs["clean"]  # same data, different schedule


def test_rephrased_arm_is_clean_plus_real_rephrasings(outcome):
    exp, out = outcome
    a = out["arms"]
    rp = out["rephrased"]
    assert rp["parents"] == 2 and rp["synthetic_kept"] == 2 and rp["real_docs"] == a["clean"]["docs"]
    assert a["clean+rephrased"]["docs"] == a["clean"]["docs"] + 2
    assert a["clean+rephrased"]["unique_tokens"] > a["clean"]["unique_tokens"]
    kept = _mix_input(Path(a["clean+rephrased"]["run"]))
    rows = duckdb.sql(f"SELECT parent_id, text FROM read_parquet('{kept}/**/*.parquet') "
                      f"WHERE origin = 'synthetic'").fetchall()
    clean_ids = _ids(_mix_input(Path(a["clean"]["run"])))
    assert len(rows) == 2 and all(p in clean_ids and t.strip() for p, t in rows)
    md = (exp / "outcome.md").read_text()
    assert "2 WRAP rephrasings kept" in md


def test_repeated_real_control_adds_the_rephrased_chunks_real_text(outcome):
    exp, out = outcome
    a = out["arms"]
    assert a["clean+repeated"]["docs"] == a["clean"]["docs"] + 2 == a["clean+rephrased"]["docs"]
    kept = _mix_input(Path(a["clean+repeated"]["run"]))
    rows = duckdb.sql(f"SELECT id, text, domain FROM read_parquet('{kept}/**/*.parquet') "
                      f"WHERE domain LIKE '%:repeat:%'").fetchall()
    syn = duckdb.sql(f"SELECT id, parent_id, chunk_start, chunk_end FROM read_parquet("
                     f"'{_mix_input(Path(a['clean+rephrased']['run']))}/**/*.parquet') WHERE origin = 'synthetic'"
                     ).fetchall()
    clean = _mix_input(Path(a["clean"]["run"]))
    parents = dict(duckdb.sql(f"SELECT id, text FROM read_parquet('{clean}/**/*.parquet')").fetchall())
    # reference: the chunk each rephrasing rewrote, text[chunk_start:chunk_end] of its parent (rephrase/chunking.py)
    want = {f"{i}:real": parents[p][s:e] for i, p, s, e in syn}
    assert {i: t for i, t, _ in rows} == want and all(d.endswith(":repeat:medium") for _, _, d in rows)
    # each repeat cell is repeated as often as its synthetic twin (weights matched by tokens)
    ep_rep, ep_syn = a["clean+repeated"]["epochs_by_domain"], a["clean+rephrased"]["epochs_by_domain"]
    pairs = [(ep_rep[d], ep_syn.get(d.replace(":repeat:", ":synthetic:"), 0.0)) for d in ep_rep if ":repeat:" in d]
    assert pairs and all(r == pytest.approx(s, rel=0.15) for r, s in pairs if r and s)


def test_no_arm_trains_on_a_heldout_document_or_a_copy_of_one(outcome):
    exp, out = outcome
    held = exp / "data" / "heldout"
    held_ids, held_texts = _ids(held), _norm_texts(held)
    assert out["split"]["heldout_docs"] == len(held_ids) > 0
    for arm, a in out["arms"].items():
        kept = _mix_input(Path(a["run"]))
        assert not held_ids & _ids(kept), arm
        assert not held_texts & _norm_texts(kept), arm  # no exact copy either
    # the raw arm keeps its own duplicates: it is the corpus as read
    raw = _mix_input(Path(out["arms"]["raw"]["run"]))
    assert len(_ids(raw)) > len(_norm_texts(raw))


def test_upsampling_arm_draws_more_of_its_domain_at_the_end(outcome):
    exp, out = outcome
    dom = out["upsample"]["domain"]

    def late_weight(arm):
        log = next((exp / "train" / arm.replace("+", "_")).glob("seed0-*/log.jsonl"))
        recs = [json.loads(x) for x in log.read_text().splitlines() if '"weights"' in x]
        return recs[-1]["weights"][dom], recs[0]["weights"][dom]

    up_late, up_early = late_weight("clean+upsample")
    clean_late, clean_early = late_weight("clean")
    assert up_early == pytest.approx(clean_early)
    assert up_late > clean_late


def test_report_has_the_experiment_section(outcome, tmp_path):
    exp, _ = outcome
    html = tmp_path / "report.html"
    assert gristmill(["report", str(exp.parent), "--output", str(html)]) == 0
    text = html.read_text()
    assert "Experiment: does curation pay?" in text and "clean+random" in text and "training tokens" in text


def test_tokens_to_reach_reads_the_first_crossing():
    curve = [(100, 5.0), (200, 4.0), (300, 3.0), (400, 3.5)]
    assert tokens_to_reach(curve, 4.5) == pytest.approx(150.0)
    assert tokens_to_reach(curve, 5.0) == 100.0
    assert tokens_to_reach(curve, 2.0) is None


def _mixture(path: Path, domains: dict[str, dict]) -> Path:
    """A mixture written by the one writer (trainer_hooks/mixture.py), as experiment.py reads it back."""
    from gristmill.trainer_hooks.mixture import DomainEntry, MixtureSpec, save_mixture
    entries = {d: DomainEntry(**{"files": [], "weight": 0.0, **e}) for d, e in domains.items()}
    spec = MixtureSpec(dtype="uint16", tokenizer={"path": None, "vocab_size": 300, "eos_id": 0},
                       budget_tokens=sum(e.tokens for e in entries.values()), domains=entries)
    return save_mixture(spec, path)


def _clean_mix(tmp_path, domains: dict[str, tuple[int, int]]) -> Path:
    """A mixture.eval.json as eval_mixtures writes it: {domain: (training tokens, held-out tokens)}."""
    return _mixture(tmp_path / "mixture.eval.json",
                    {d: {"tokens": t, "heldout_tokens": h, "docs": 1} for d, (t, h) in domains.items()})


def test_upsample_default_skips_a_domain_too_small_to_see(tmp_path):
    # a 1% domain is the smallest with held-out windows, but too few tokens to show anything
    mix = _clean_mix(tmp_path, {"tiny": (1_000, 5_000), "small": (9_000, 5_000), "big": (90_000, 5_000)})
    cfg = ExperimentConfig(input={"format": "python_env"})
    assert cfg.upsample.min_share == 0.05
    assert pick_upsample_domain(cfg, mix) == ("small", None)


def test_upsample_default_needs_heldout_windows(tmp_path):
    mix = _clean_mix(tmp_path, {"small": (9_000, 10), "big": (91_000, 5_000)})
    assert pick_upsample_domain(ExperimentConfig(input={"format": "python_env"}), mix) == ("big", None)


def test_upsample_arm_is_skipped_with_a_reason_when_no_domain_qualifies(tmp_path):
    mix = _clean_mix(tmp_path, {"a": (50_000, 10), "b": (50_000, 5_000)})
    cfg = ExperimentConfig(input={"format": "python_env"}, upsample={"min_share": 0.6})
    dom, why = pick_upsample_domain(cfg, mix)
    assert dom is None and "min_share" in why and "0.6" in why


def test_upsample_explicit_domain_is_used_below_the_share(tmp_path):
    mix = _clean_mix(tmp_path, {"tiny": (1_000, 5_000), "big": (99_000, 5_000)})
    cfg = ExperimentConfig(input={"format": "python_env"}, upsample={"domain": "tiny"})
    assert pick_upsample_domain(cfg, mix) == ("tiny", None)


def test_a_domain_shorter_than_one_window_gets_no_weight(tmp_path):
    # a cell of one short rephrasing: the trainer refuses a weighted domain it cannot draw a window from
    from gristmill.trainer_hooks.experiment import eval_mixtures
    arm, held = tmp_path / "arm", tmp_path / "held"
    for folder, doms in ((arm, {"web": (1000, 0.5), "web:synthetic:qa": (40, 0.5)}), (held, {"web": (500, 1.0)})):
        folder.mkdir()
        _mixture(folder / "mixture.json", {d: {"tokens": t, "docs": 1, "weight": w} for d, (t, w) in doms.items()})
    out = json.loads(eval_mixtures({"clean+rephrased": arm}, held, block_size=64)["clean+rephrased"].read_text())
    assert out["domains"]["web:synthetic:qa"]["weight"] == 0.0
    assert out["domains"]["web"]["weight"] == pytest.approx(1.0)


def test_ablation_arms_leave_each_clean_stage_out_and_report_against_clean(tmp_path):
    from gristmill.trainer_hooks.experiment import load_experiment
    from gristmill.trainer_hooks.experiment.config import ablation_arms
    from gristmill.trainer_hooks.experiment.stats import ablation_deltas
    cfg_path = tmp_path / "e.yaml"
    cfg_path.write_text(yaml.safe_dump({"input": {"format": "python_env"},
                                        "clean": [{"length": {}}, {"dedup_exact": {}}, {"quality": {}}]}))
    cfg = load_experiment(cfg_path, ablate=True)
    arms = ablation_arms(cfg)
    assert list(arms) == ["clean-01-length", "clean-02-dedup_exact", "clean-03-quality"]
    assert arms["clean-02-dedup_exact"] == [{"length": {}}, {"quality": {}}]
    assert ablation_arms(load_experiment(cfg_path)) == {}
    # clean: losses 4.0 / 4.2 over 2 seeds; without dedup: 4.3 / 4.5 -> +0.3, se sqrt(2 * 0.02 / 2) = 0.1414
    sd = 0.2 ** 0.5 / 10 ** 0.5  # sample sd of (4.0, 4.2) and of (4.3, 4.5)
    arm = {"overall": (4.1, sd), "targets": {"wiki": (4.1, sd)}, "seeds": 2, "docs": 10}
    out = ablation_deltas({"clean": arm, "clean-02-dedup_exact": {**arm, "overall": (4.4, sd),
                                                                  "targets": {"wiki": (4.0, sd)}, "docs": 12}})
    r = out["02-dedup_exact"]
    assert r["corpus"][0] == pytest.approx(0.3) and r["corpus"][1] == pytest.approx(0.1414, abs=1e-4)
    assert r["targets"]["wiki"][0] == pytest.approx(-0.1) and (r["docs"], r["clean_docs"]) == (12, 10)
    # without a raw arm (`--arms clean --ablate`) there is no tokens-to-raw's-loss, but the table still has the
    # target columns
    from gristmill.trainer_hooks.experiment.report import _ablation_table
    table = _ablation_table({"ablation": out, "targets": {}})
    assert "| corpus held-out | wiki |" in table and "| -0.100 ± 0.141 |" in table
