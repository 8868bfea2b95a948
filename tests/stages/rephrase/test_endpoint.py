"""The openai backend against a real OpenAI-compatible server: `transformers serve` on loopback with the
converted SmolLM2 folder. The server is killed mid-run; the rerun resumes from the cache and loses nothing."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager

import httpx
import pytest
from helpers import docs_df

from gristmill.pipeline.stage import StageError, get_stage

TEXTS = [
    "The public library opened in 1921 with two thousand books donated by local families. It moved to a larger "
    "building beside the river in 1968.",
    "The old stone bridge has five arches and was built by the town's masons between 1780 and 1786. Since 1990 "
    "only people on foot and on bicycles may cross it.",
    "Honey bees tell each other where flowers are with a waggle dance. The angle of the dance shows the "
    "direction of the food relative to the sun.",
    "Tides are caused mainly by the pull of the Moon on the oceans. Most coasts see two high tides and two low "
    "tides every day.",
    "Bread rises because yeast eats sugars in the dough and releases carbon dioxide, which a network of gluten "
    "traps until the oven sets it.",
    "Snowflakes form when water vapour freezes onto tiny particles of dust high in cold clouds, and their six "
    "arms grow as the crystal falls.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def transformers_serve(model_dir, port, threads: int | None = None):
    """threads: torch threads of the server (OMP_NUM_THREADS); None leaves torch's default (all cores)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    # its log goes to a file: an unread pipe fills up after a few hundred requests and stalls the server
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_dir),
                             "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"transformers serve exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("transformers serve did not come up in 300 s")
            time.sleep(0.5)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def kill_when_first_batch_is_cached(proc, cache_dir, stop):
    while not stop.is_set():
        if cache_dir.exists() and any(cache_dir.glob("part-*.parquet")):
            proc.kill()
            return
        time.sleep(0.02)


@pytest.mark.slow
def test_openai_backend_with_a_real_server_killed_mid_run_resumes_and_loses_nothing(run_rephrase, spark, tmp_path,
                                                                                   smol_dir):
    port, cache = free_port(), tmp_path / "cache"
    params = dict(backend="openai", base_url=f"http://127.0.0.1:{port}/v1", model=str(smol_dir),
                  styles=["medium"], max_new_tokens=8, keep_truncated=True, min_length_ratio=0.0,
                  check_language=False, min_chunk_tokens=5, batch_size=2, concurrency=2, max_retries=1,
                  backoff_s=0.1, timeout_s=120, cache_dir=str(cache))
    df = docs_df(spark, [{"id": f"d{i}", "text": t} for i, t in enumerate(TEXTS)]).coalesce(1)
    all_ids = {f"d{i}#wrap-medium-0" for i in range(len(TEXTS))}

    with transformers_serve(smol_dir, port) as proc:
        stop = threading.Event()
        killer = threading.Thread(target=kill_when_first_batch_is_cached, args=(proc, cache, stop), daemon=True)
        killer.start()
        kept, rejected, stats = run_rephrase(params, df, tmp_path / "a")
        stop.set()
    syn = [r for r in kept + rejected if r["origin"] == "synthetic"]
    assert {r["id"] for r in syn} == all_ids  # every chunk is a row, answered or not
    errors = [r for r in syn if r["drop_reason"] == "rephrase:error"]
    assert errors and stats["errors"] == len(errors)
    done = len(syn) - len(errors)
    assert done >= 1 and stats["generated"] == done

    with transformers_serve(smol_dir, port):
        kept2, rejected2, stats2 = run_rephrase(params, df, tmp_path / "b")
    syn2 = [r for r in kept2 + rejected2 if r["origin"] == "synthetic"]
    assert {r["id"] for r in syn2} == all_ids
    assert not [r for r in syn2 if r["drop_reason"] == "rephrase:error"]
    assert stats2["cache_hits"] == done and stats2["generated"] == len(errors)  # resumed, nothing twice
    assert all(r["tokens_in"] > 20 and r["finish_reason"] in ("stop", "length") for r in syn2)


def test_an_endpoint_that_does_not_answer_fails_before_spark():
    cls = get_stage("rephrase")
    cfg = cls.Config(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m")
    with pytest.raises(StageError, match="does not answer"):
        cls(cfg).preflight()
