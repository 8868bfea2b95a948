"""The datatrove stage: two real datatrove filters and a formatter in Spark decide exactly as datatrove's own
LocalPipelineExecutor does on the same documents; drop reasons, rewritten text, metadata columns and stats."""
from __future__ import annotations

import json

import pytest
from helpers import run_stage

pytest.importorskip("datatrove")

GOPHER = "datatrove.pipeline.filters.GopherQualityFilter"
C4 = "datatrove.pipeline.filters.C4QualityFilter"
FTFY = "datatrove.pipeline.formatters.FTFYFormatter"


def documents() -> list[dict]:
    """Real text (the quickstart corpus: READMEs and licences of the installed packages) and the kinds of
    page text the filters exist for."""
    from gristmill.pipeline.inputs.pkgcorpus import iter_documents
    docs = []
    # datatrove's JsonlReader skips documents without text before any step sees them, so those are left out
    real = [d for d in sorted(iter_documents(), key=lambda d: d["id"]) if d["text"].strip()]
    for i, d in enumerate(real[:80]):
        text = d["text"]
        if i % 5 == 1:
            text = text + "\nThe cafÃ© on the corner serves a rÃ©sumÃ© of the news with its coffee."  # for ftfy
        if i % 7 == 2:
            text = text + "\nlorem ipsum dolor sit amet, consectetur adipiscing elit."
        if i % 6 == 3:
            text = text + "\nPlease enable javascript to view this page.\n" + "function() { return x; }\n"
        docs.append({"id": f"doc-{i:02d}", "text": text})
    docs += [
        {"id": "short", "text": "Buy now. Great deals."},
        {"id": "bullets", "text": "\n".join(f"• item number {i} on the list of items" for i in range(60))},
        {"id": "symbols", "text": " ".join(["# # # # word"] * 200)},
        {"id": "nostop", "text": " ".join(["alpha beta gamma delta epsilon zeta eta theta."] * 40)},
        {"id": "policy",
         "text": "This site uses cookies.\n" + "A normal sentence about grain mills and their history here. " * 30},
    ]
    return docs


def datatrove_run(tmp_path, docs):
    """The same steps under datatrove's own executor: kept docs and each filter's drop reasons."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter
    from datatrove.pipeline.formatters import FTFYFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    src = tmp_path / "dt_in"
    src.mkdir()
    with open(src / "docs.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps(d) + "\n")
    def w(name):
        return JsonlWriter(str(tmp_path / name), output_filename="out.jsonl", compression=None)
    LocalPipelineExecutor(pipeline=[
        JsonlReader(str(src)),
        GopherQualityFilter(exclusion_writer=w("dt_gopher")),
        C4QualityFilter(exclusion_writer=w("dt_c4")),
        FTFYFormatter(),
        w("dt_out"),
    ], tasks=1, workers=1, logging_dir=str(tmp_path / "dt_logs"), skip_completed=False).run()
    def read(name):
        out = tmp_path / name / "out.jsonl"
        return [json.loads(x) for x in open(out)] if out.exists() else []

    def reasons(name):
        return {d["id"]: d["metadata"].get("filter_reason") or "dropped" for d in read(name)}
    return {d["id"]: d["text"] for d in read("dt_out")}, reasons("dt_gopher"), reasons("dt_c4")


def test_two_filters_and_a_formatter_decide_as_datatrove_does(spark, tmp_path):
    docs = documents()
    want_kept, want_gopher, want_c4 = datatrove_run(tmp_path, docs)
    assert want_gopher and want_c4 and want_kept  # the documents exercise every step

    k1, r1, s1 = run_stage(spark, "datatrove", {"step": GOPHER}, docs, tmp_path / "g")
    want = {i: f"datatrove:GopherQualityFilter:{why}" for i, why in want_gopher.items()}
    assert {r["id"]: r["drop_reason"] for r in r1} == want

    def plain(rows):
        return [{"id": r["id"], "text": r["text"]} for r in rows]

    k2, r2, _ = run_stage(spark, "datatrove", {"step": C4, "label": "c4"}, plain(k1), tmp_path / "c")
    assert {r["id"]: r["drop_reason"] for r in r2} == {i: f"datatrove:c4:{why}" for i, why in want_c4.items()}
    k3, r3, _ = run_stage(spark, "datatrove", {"step": FTFY}, plain(k2), tmp_path / "f")
    assert r3 == []
    assert {r["id"]: r["text"] for r in k3} == want_kept
    assert len(k1) + len(r1) == len(docs)
    assert any("café" in t for t in want_kept.values())  # the formatter did rewrite text


def test_stats_are_summed_into_the_stage_stats(spark, tmp_path):
    from helpers import docs_df

    from gristmill.pipeline.stage import StageContext, get_stage
    cls = get_stage("datatrove")
    ctx = StageContext(spark=spark, run_dir=tmp_path, work_dir=tmp_path, stage_dir=tmp_path, index=1, name="datatrove")
    stage = cls(cls.Config(step=GOPHER), ctx)
    docs = documents()
    out = stage.transform(docs_df(spark, docs).repartition(3)).collect()  # one action, three tasks
    stats = stage.stats()["datatrove_stats"]["stats"]
    assert stats["total"]["total"] == len(docs) == len(out)
    dropped = sum(1 for r in out if r["drop_reason"])
    assert 0 < dropped < len(docs)
    assert stats["dropped"]["total"] == dropped and stats["forwarded"]["total"] == len(docs) - dropped


def test_metadata_goes_in_and_comes_back_as_columns(spark, tmp_path):
    """URLFilter reads doc.metadata["url"] (the row's url column); metadata_columns brings keys back typed."""
    rows = [{"id": "a", "text": "A page about mills and grain and their history.",
             "url": "https://blocked-site.com/x", "n": 3},
            {"id": "b", "text": "Another page about bread, flour and the people who bake it.",
             "url": "https://fine-site.com/", "n": 4}]
    kept, rejected, _ = run_stage(spark, "datatrove", {
        "step": "datatrove.pipeline.filters.URLFilter", "label": "url",
        "kwargs": {"extra_domains": ["blocked-site.com"], "use_integrated_lists": False},
        "metadata_columns": {"n": "bigint"}}, rows, tmp_path)
    assert [(r["id"], r["drop_reason"]) for r in rejected] == [("a", "datatrove:url:domain")]
    assert [(r["id"], r["n"]) for r in kept] == [("b", 4)]


def test_bad_step_paths_are_clear_errors():
    from gristmill.pipeline.stage import StageError, get_stage
    cls = get_stage("datatrove")
    with pytest.raises(StageError, match="cannot import 'datatrove.pipeline.filters.NoSuchFilter'"):
        cls(cls.Config(step="datatrove.pipeline.filters.NoSuchFilter")).preflight()
    with pytest.raises(StageError, match="not a datatrove PipelineStep"):
        cls(cls.Config(step="json.JSONDecoder")).preflight()
    with pytest.raises(StageError, match="GopherQualityFilter"):
        cls(cls.Config(step=GOPHER, kwargs={"no_such_option": 1})).preflight()
