"""A pipeline run with the rephrase stage: the runner's counts, `inspect show` of a synthetic row beside its
parent chunk, and the report's rephrase section."""
from __future__ import annotations

import json

from gristmill.pipeline.cli import main as cli
from gristmill.pipeline.config import parse_config
from gristmill.pipeline.report.build import build_report
from gristmill.pipeline.runner import Runner

TEXTS = {
    "lib": "The public library opened in 1921 with two thousand books donated by local families. It moved to a "
           "larger building beside the river in 1968.",
    "bees": "Honey bees tell each other where flowers are with a waggle dance. The angle of the dance shows the "
            "direction of the food relative to the sun.",
    # 16 tokens: 8 answer tokens are over max_length_ratio 0.35 of it (the two above stay under), a rejection
    "rain": "Rain fell on the hills all night, and by morning the river had risen.",
}


def test_run_counts_added_rows_and_inspect_and_report_show_them(spark, tmp_path, smol_dir, capsys):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in TEXTS.items()))
    raw = {"name": "wrap", "input": {"format": "jsonl", "path": str(src)},
           "stages": [{"rephrase": {"styles": ["medium"], "max_new_tokens": 8, "keep_truncated": True,
                                    "min_length_ratio": 0, "max_length_ratio": 0.35, "check_language": False,
                                    "min_chunk_tokens": 10, "echo_similarity": 1}}]}
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=tmp_path, quiet=True).run()

    m = json.loads((run / "manifest.json").read_text())
    step = m["stages"][1]
    assert step["in"] == 3 and step["stats"]["added"] == 3
    assert step["in"] + step["stats"]["added"] == step["kept"] + step["rejected"]
    assert step["rejected"] == 1

    capsys.readouterr()
    assert cli(["inspect", str(run), "show", "lib#wrap-medium-0"]) == 0
    out = capsys.readouterr().out
    assert "synthetic: style medium of lib chunk 0" in out and "parent chunk" in out
    assert "The public library opened in 1921" in out  # the parent's chunk, beside the rephrase

    html = build_report(run, tmp_path / "report.html").read_text()
    assert "Rephrased (synthetic) rows" in html and "lib#wrap-medium-0" in html
    assert "Examples (rejected)" in html and "rain#wrap-medium-0" in html and "rephrase:too_long" in html

    capsys.readouterr()
    assert cli(["inspect", str(run), "show", "rain#wrap-medium-0"]) == 0
    out = capsys.readouterr().out
    assert "REJECTED: rephrase:too_long" in out and "Rain fell on the hills" in out
