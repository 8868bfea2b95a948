"""What a stage publishes commits with the stage (issue 25, item 5), and pass-through stages keep the previous
kept/ instead of copying the corpus (issue 26, item 5).

The battery's failure: kill -9 during `mix` left RUN/mixture.json with the killed attempt's weights, naming
shards that were never committed. Real subprocesses, a real Spark, a real SIGKILL to the whole process group."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import yaml
from helpers import TEST_DATA

from gristmill.pipeline.rundir import KEPT_FROM, RunDir
from gristmill.trainer_hooks.mixture import load_mixture

CLI = "import sys; from gristmill.pipeline.cli import main; sys.exit(main(sys.argv[1:]))"


def config(tmp_path, temperature: float):
    raw = {"name": "m", "runs_dir": str(tmp_path / "runs"),
           "input": {"path": [str(TEST_DATA / "web" / "dolma_ccnet_en_head_30docs.jsonl.gz"),
                              str(TEST_DATA / "web" / "datajuicer_redpajama_cc_c4_20docs.jsonl.gz")],
                     "text_field": "text", "id_field": None},
           "spark": {"master": "local[2]", "driver_memory": "1g", "shuffle_partitions": 2},
           "stages": [{"length": {"min_chars": 50}}, {"domain": {"from": "source"}},
                      {"mix": {"vocab_size": 300, "heldout_fraction": 0.1, "weights": "temperature",
                               "temperature": temperature, "tokenizer_sample_docs": 100}}]}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def gristmill(cfg, **kw):
    return subprocess.Popen([sys.executable, "-c", CLI, "run", str(cfg), "--quiet"], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def entries(run):
    return {e["name"]: e for e in RunDir(run).manifest()["stages"]}


def test_kill_9_during_mix_never_publishes_uncommitted_shards_and_the_rerun_redoes_mix(tmp_path):
    run = tmp_path / "runs" / "m"
    p = gristmill(config(tmp_path, 2.0))
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out
    first = load_mixture(run / "mixture.json")
    assert entries(run)["mix"]["status"] == "done"
    old = (run / "mixture.json").stat().st_ino

    # other weights: mix reruns; kill the whole process group the moment a new mixture.json is written
    cfg = config(tmp_path, 5.0)
    p = gristmill(cfg)
    killed, deadline = False, time.time() + 600
    while time.time() < deadline and p.poll() is None:
        published = (run / "mixture.json").exists() and (run / "mixture.json").stat().st_ino != old
        if published or any(run.glob(".03-mix.tmp-*/mixture.json")):
            os.killpg(p.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    p.wait(timeout=60)
    assert killed, f"the run ended before mix wrote its mixture (rc {p.returncode}): {p.stdout.read()}"

    rd, mix = RunDir(run), entries(run)["mix"]
    assert not rd.is_finished(mix["dir"], mix["hash"])  # the new mix did not commit
    # no mixture at all rather than one with the killed attempt's weights or shards
    assert not rd.mixture.exists(), "RUN/mixture.json survived a killed mix that did not commit"

    p = gristmill(cfg)
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out
    st = entries(run)
    assert [st[n]["status"] for n in ("read", "length", "domain", "mix")] == ["skipped"] * 3 + ["done"]
    again = load_mixture(rd.mixture)  # every shard it names exists
    assert again.weights != first.weights  # the new temperature's weights
    stats = rd.stats(st["mix"]["dir"])
    assert {d: round(w, 6) for d, w in again.weights.items()} == stats["weights"]

    # mix passes its documents through: no copy of the corpus, a pointer to domain's kept/
    mix_dir = rd.stage(st["mix"]["dir"])
    assert (mix_dir / KEPT_FROM).read_text().strip() == st["domain"]["dir"] and not (mix_dir / "kept").exists()
    assert rd.kept(st["mix"]["dir"]) == rd.kept(st["domain"]["dir"])
    assert st["mix"]["kept"] == st["domain"]["kept"] and st["mix"]["rejected"] == 0
    from gristmill.pipeline.inspection.run import Run
    r = Run(run)
    assert r.query("SELECT count(*) FROM final")[1][0][0] == st["domain"]["kept"]
    assert [s.dir for s in r.done()][-1] == st["mix"]["dir"]
