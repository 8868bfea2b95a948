"""run_all.py: one code version per summary (others listed as stale), like-for-like computed per row."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import harness  # noqa: E402
import run_all  # noqa: E402


def claim(version: str, **kw) -> dict:
    return {"measure": "m", "gristmill": 1, "peer": 2, "ratio": 0.5, "goal": ">= 5x", "met": False,
            "load": "1 1 1", "version": version, **kw}


def test_claims_of_another_version_are_stale_not_tabled(tmp_path):
    path = tmp_path / "b.claims.json"
    path.write_text(json.dumps([claim("abc", parity=harness.parity()), claim("old"), {"measure": "no version"}]))
    stale: list = []
    rows = run_all.claim_rows(path, "b", "this run", "abc", stale)
    assert len(rows) == 1 and rows[0][7] == "yes"
    assert [s[4] for s in stale] == ["old", "not recorded"]


def test_like_for_like_is_computed_from_the_parity_field():
    assert run_all.like_for_like(claim("v", parity=harness.parity())) == "yes"
    cell = run_all.like_for_like(claim("v", parity=harness.parity(tokenizer="datatrove: spaCy")))
    assert cell == "no: tokenizer: datatrove: spaCy"
    assert run_all.like_for_like(claim("v")) == "not recorded"  # a peer figure without parity is not trusted
    assert run_all.like_for_like(claim("v", peer="-")) == "-"


def test_parity_names_only_known_aspects():
    import pytest
    with pytest.raises(ValueError):
        harness.parity(tokeniser="x")


def test_code_state_names_the_commit():
    state = harness.code_state()
    assert len(state["commit"]) == 40 and state["version"].startswith(state["commit"][:12])


def test_a_missed_goal_says_by_how_much_and_what_was_tried(tmp_path):
    path = tmp_path / "bench_minhash_5000.claims.json"
    path.write_text(json.dumps([
        claim("v", ratio=0.62, goal=">= 5x, >= 3,000 docs/s/core", gristmill="4.96 s = 504 docs/s/core"),
        claim("v", ratio=6.0, met=True), claim("v", ratio=0.5)]))
    rows = run_all.claim_rows(path, "bench_minhash_5000", "this run", "v", [])
    missed = run_all.unmet(rows)
    assert len(missed) == 2  # the met row is not listed
    assert "8.1x short" in missed[0][2] and "504 docs/s/core against >= 3,000 docs/s/core: 6.0x short" in missed[0][2]
    assert "rensa" in missed[0][3] and missed[1][3] == "(as above)"


def test_a_bench_without_attempts_on_record_says_so():
    import tried
    assert "nothing on record" in tried.tried("bench_new")
    assert tried.shortfall("<= 1/20", "1/25", "1 s") == ""  # met: nothing short
