"""dedup_minhash on real web documents and hand-written edge cases, through a real SparkSession."""
from __future__ import annotations

import time
from collections import defaultdict

import pytest
from helpers import run_stage
from pydantic import ValidationError

from gristmill.pipeline.stage import StageError, get_stage
from gristmill.stages.dedup import signatures as minhash

LONG = ("The committee met on Tuesday to review the budget for the coming year and agreed that the new "
        "library wing should open in the spring, after the contractors finish the roof and the reading "
        "rooms are furnished with the shelves that were ordered last autumn from the regional supplier.")


def _web(limit=None):
    """Real documents on every machine: the quickstart corpus's licences, docs and READMEs, sorted by id."""
    from helpers import python_env_docs
    return sorted(python_env_docs(), key=lambda d: d["id"])[:limit]


def _edited_copies(docs, count, every=150):
    """Copies of the longest English-looking docs with one word in `every` replaced (Jaccard ~0.93)."""
    long_docs = sorted((d for d in docs if len(minhash.words(d["text"])) > 400), key=lambda d: d["id"])[:count]
    out = []
    for d in long_docs:
        ws = d["text"].split(" ")
        ws = [("EDIT" + str(i) if i % every == 7 else w) for i, w in enumerate(ws)]
        out.append({"id": "~edit-" + d["id"], "text": " ".join(ws), "source": "cc"})
    return out


def test_finds_edited_copies_and_exact_groups_in_real_web_docs(spark, tmp_path):
    docs = _web()
    edits = _edited_copies(docs, 5)
    kept, rejected, stats = run_stage(spark, "dedup_minhash", {}, docs + edits, tmp_path)
    assert len(kept) + len(rejected) == len(docs) + len(edits)
    by_id = {r["id"]: r for r in kept + rejected}
    texts = {d["id"]: d["text"] for d in docs + edits}

    for e in edits:  # every edited copy points at its original, which stays
        row = by_id[e["id"]]
        assert row["drop_reason"] == "dup:near"
        assert row["duplicate_of"] == e["id"][len("~edit-"):]
        assert by_id[row["duplicate_of"]]["drop_reason"] is None

    # documents with the same words (exact duplicates after normalization) end in one cluster
    groups = defaultdict(list)
    for d in docs:
        w = minhash.words(d["text"])
        if len(w) >= 5:  # fewer words than one 5-gram shingle: never clustered
            groups[tuple(w)].append(d["id"])
    dup_groups = [g for g in groups.values() if len(g) > 1]
    assert dup_groups, "installed packages ship the same licence texts"
    kept_per_cluster = defaultdict(int)
    for r in kept:
        if r["minhash_cluster"] is not None:
            kept_per_cluster[r["minhash_cluster"]] += 1
    for g in dup_groups:
        clusters = {by_id[i]["minhash_cluster"] for i in g}
        assert len(clusters) == 1 and None not in clusters
        # a group can sit inside a larger cluster (MIT licences differing only in the copyright line), whose one
        # kept document may be outside the group; every cluster keeps exactly one
        assert kept_per_cluster[clusters.pop()] == 1

    # precision at the stage's own threshold (0.8, exact): every verified edge really reaches it, and
    # every removed doc is on one (its representative may be two edges away, so not compared directly)
    import pyarrow.parquet as pq
    verified = pq.read_table(tmp_path / "stage-dedup_minhash" / "verified").to_pylist()
    for e in verified:
        true = minhash.jaccard(minhash.shingle_set(texts[e["u"]]), minhash.shingle_set(texts[e["v"]]))
        assert true >= 0.8, (e, true)
    on_edge = {e["u"] for e in verified} | {e["v"] for e in verified}
    assert {r["id"] for r in rejected} <= on_edge

    # empty documents are never clustered
    for d in docs:
        if not minhash.words(d["text"]):
            assert by_id[d["id"]]["minhash_cluster"] is None and by_id[d["id"]]["drop_reason"] is None

    assert stats["docs_removed"] == len(rejected)
    assert stats["candidate_pairs"] >= stats["docs_removed"]
    # groups and edited copies may share a cluster (a licence group inside a wider cluster of its variants)
    touched = {by_id[g[0]]["minhash_cluster"] for g in dup_groups} | {by_id[e["id"]]["minhash_cluster"] for e in edits}
    assert stats["clusters"] >= len(touched) > 0
    assert stats["docs_without_shingles"] == sum(not minhash.words(d["text"]) for d in docs + edits)
    assert stats["docs_without_shingles"] > 0, "the web sample is known to hold empty documents"
    assert (tmp_path / "stage-dedup_minhash" / "clusters").is_dir()


def test_reruns_agree(spark, tmp_path):
    docs = _web(150)
    rows = docs + _edited_copies(docs, 3, every=40)
    runs = []
    for i in range(2):
        kept, rejected, _ = run_stage(spark, "dedup_minhash", {"threshold": 0.7}, rows, tmp_path / str(i))
        runs.append(sorted((r["id"], r["minhash_cluster"], r["duplicate_of"]) for r in kept + rejected))
    assert runs[0] == runs[1]
    assert any(dup for _, _, dup in runs[0])


def test_lsh_only_links_each_bucket_as_a_star_with_the_clusters_of_all_pairs(spark, tmp_path):
    """Without verification only connectivity matters: one edge per bucket member to the bucket's smallest id
    gives the clusters every pair would, with k - 1 edges instead of k(k - 1) / 2."""
    import pyarrow.parquet as pq
    docs = _web(300)
    rows = docs + [dict(r, id=r["id"] + f"-{every}")
                   for every in (60, 20) for r in _edited_copies(docs, 6, every=every)]
    kept, rejected, stats = run_stage(spark, "dedup_minhash", {"threshold": None}, rows, tmp_path)
    assert len(kept) + len(rejected) == len(rows)
    stage = tmp_path / "stage-dedup_minhash"
    buckets = pq.read_table(stage / "buckets", columns=["id", "band", "bucket"]).to_pylist()
    members = defaultdict(set)
    for b in buckets:
        members[(b["band"], b["bucket"])].add(b["id"])
    parent = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for ids in members.values():  # every pair of a bucket, as union-find sees them
        ids = sorted(ids)
        for a in ids[1:]:
            parent[find(a)] = find(ids[0])
    expected = defaultdict(set)
    for x in parent:
        expected[find(x)].add(x)
    ours = defaultdict(set)
    for r in kept + rejected:
        if r["minhash_cluster"] is not None:
            ours[r["minhash_cluster"]].add(r["id"])
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, expected.values()))
    assert any(len(ids) >= 3 for ids in members.values()), "buckets of three or more make pairs outnumber stars"
    heads = {(key, min(ids)) for key, ids in members.items()}
    edges = pq.read_table(stage / "candidates").to_pylist()
    star = {(e["u"], e["v"]) for e in edges}
    assert all(any((key, e[1]) in heads and e[0] in ids for key, ids in members.items()) for e in star)
    assert len(star) == stats["candidate_edges"] < stats["candidate_pairs"]
    assert stats["docs_removed"] == len(rejected) > 0


def test_exact_verification_keeps_exactly_the_pairs_above_threshold(spark, tmp_path):
    import pyarrow.parquet as pq
    docs = _web(200)
    rows = docs + [dict(r, id=r["id"] + f"-{every}") for every in (60, 20, 12, 9)
                   for r in _edited_copies(docs, 6, every=every)]
    texts = {r["id"]: r["text"] for r in rows}
    _, rejected, stats = run_stage(spark, "dedup_minhash", {"threshold": 0.8}, rows, tmp_path)
    stage = tmp_path / "stage-dedup_minhash"

    def edges(name):
        t = pq.read_table(stage / name)
        return set(zip(t.column("u").to_pylist(), t.column("v").to_pylist()))

    def jac(u, v):
        return minhash.jaccard(minhash.shingle_set(texts[u]), minhash.shingle_set(texts[v]))

    candidates, verified = edges("candidates"), edges("verified")
    scored = {e: jac(*e) for e in candidates}
    assert verified == {e for e, j in scored.items() if j >= 0.8}
    assert any(j < 0.8 for j in scored.values()), "the edit rates are chosen so some candidates fall below"
    assert stats["verify"] == "exact" and stats["verified_edges"] == len(verified)
    assert rejected


def _edge_rows():
    return [
        {"id": "a1", "text": LONG, "source": "news", "quality_score": 0.2},
        {"id": "a2", "text": LONG + " Minutes were taken.", "source": "blog", "quality_score": 0.9},
        {"id": "a3", "text": LONG.replace("Tuesday", "Monday"), "source": "news", "quality_score": 0.5},
        {"id": "s1", "text": "Hello world", "source": "news"},
        {"id": "s2", "text": "hello, WORLD!", "source": "news"},
        {"id": "s3", "text": "Hello there world", "source": "news"},
        {"id": "e1", "text": "", "source": "news"},
        {"id": "e2", "text": None, "source": "news"},
        {"id": "e3", "text": "  ...  ", "source": "news"},
        {"id": "u1", "text": "An unrelated note about gardening: water tomatoes early and mulch the beds "
                             "before the first summer heat arrives in the valley.", "source": "news"},
    ]


def test_short_empty_and_keep_by_quality(spark, tmp_path):
    kept, rejected, stats = run_stage(spark, "dedup_minhash", {"keep": "quality_score", "threshold": 0.7},
                                      _edge_rows(), tmp_path)
    by_id = {r["id"]: r for r in kept + rejected}
    assert {r["id"] for r in rejected} == {"a1", "a3", "s1"}
    assert by_id["a1"]["duplicate_of"] == by_id["a3"]["duplicate_of"] == "a2"  # highest quality_score stays
    assert by_id["a2"]["minhash_cluster"] == "a1"  # cluster label: smallest id in the cluster
    # identical short docs are one shingle each; no score on either, so the longer text stays
    assert by_id["s1"]["duplicate_of"] == "s2"
    for i in ("s3", "e1", "e2", "e3", "u1"):
        assert by_id[i]["minhash_cluster"] is None and by_id[i]["drop_reason"] is None
    assert stats["docs_removed"] == 3 and stats["clusters"] == 2


def test_per_source_scope_keeps_copies_in_other_sources(spark, tmp_path):
    kept, rejected, _ = run_stage(spark, "dedup_minhash", {"scope": "per_source", "keep": "longest",
                                                           "threshold": 0.7}, _edge_rows(), tmp_path)
    by_id = {r["id"]: r for r in kept + rejected}
    assert by_id["a2"]["drop_reason"] is None  # its near copies are in another source
    assert by_id["a2"]["minhash_cluster"] is None
    assert by_id["a1"]["duplicate_of"] == "a3" or by_id["a3"]["duplicate_of"] == "a1"
    # longest wins: a1 and a3 differ by Tuesday/Monday, a1 is one char longer
    assert by_id["a3"]["duplicate_of"] == "a1"


def test_ten_thousand_identical_docs_are_linear(spark, tmp_path):
    rows = [{"id": f"d{i:05d}", "text": LONG, "source": "s"} for i in range(10_000)]
    rows.append({"id": "z", "text": "something else entirely, written once and never copied anywhere", "source": "s"})
    t0 = time.time()
    kept, rejected, stats = run_stage(spark, "dedup_minhash", {}, rows, tmp_path)
    elapsed = time.time() - t0
    assert [r["id"] for r in kept] == ["d00000", "z"] or sorted(r["id"] for r in kept) == ["d00000", "z"]
    assert len(rejected) == 9_999 and {r["duplicate_of"] for r in rejected} == {"d00000"}
    # 14 bands x 9,999 members -> one edge per member, not 50 million pairs
    assert stats["candidate_edges"] == 9_999
    assert stats["candidate_pairs"] == 14 * 10_000 * 9_999 // 2
    assert elapsed < 150


def test_bad_configs_fail_before_spark_runs():
    cls = get_stage("dedup_minhash")
    with pytest.raises(ValidationError, match="multiple of bands"):
        cls.Config.model_validate({"num_perm": 100, "bands": 14})
    stage = cls(cls.Config.model_validate({"keep": "quality_score"}))
    with pytest.raises(StageError, match="quality_score"):
        stage.check_columns(["id", "text", "source"])
