"""dedup_exact: which copy is kept, what it points to, and the duplicates count in its stats."""
from helpers import run_stage


def test_longest_keeps_the_longer_copy_and_counts_every_duplicate(spark, tmp_path):
    docs = [{"id": "a", "text": "Hello  World"}, {"id": "b", "text": "hello world"},
            {"id": "c", "text": "HELLO WORLD  "}, {"id": "d", "text": "other"}, {"id": "e", "text": "other"},
            {"id": "f", "text": None}, {"id": "g", "text": ""}]
    kept, rej, stats = run_stage(spark, "dedup_exact", {"keep": "longest"}, docs, tmp_path)
    # normalized, a, b and c are one text and c (13 characters) the longest; "other" ties, so the smallest
    # id stays; a missing text hashes as the empty one, and the empty text (length 0) outranks it (no length)
    assert sorted(r["id"] for r in kept) == ["c", "d", "g"]
    assert sorted((r["id"], r["duplicate_of"], r["drop_reason"]) for r in rej) == [
        ("a", "c", "dup:exact"), ("b", "c", "dup:exact"), ("e", "d", "dup:exact"), ("f", "g", "dup:exact")]
    assert stats == {"scope": "global", "keep": "longest", "duplicates": 4}


def test_without_normalize_case_and_spaces_differ(spark, tmp_path):
    docs = [{"id": "a", "text": "Hello  World"}, {"id": "b", "text": "hello world"}, {"id": "c", "text": "hello world"}]
    kept, rej, stats = run_stage(spark, "dedup_exact", {"normalize": False}, docs, tmp_path)
    assert sorted(r["id"] for r in kept) == ["a", "b"] and [(r["id"], r["duplicate_of"]) for r in rej] == [("c", "b")]
    assert stats["duplicates"] == 1
