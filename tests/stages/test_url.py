"""URL normalization, domain/TLD columns, dedup_url keeping the latest fetch, and url_filter on the normalized URL."""
from __future__ import annotations

import pytest
from helpers import run_stage

from gristmill.stages.url import domain_parts, normalize_url


@pytest.mark.parametrize("raw, want", [
    ("HTTP://WWW.Example.COM:80/a/./b/../c?utm_source=x&b=2&a=1#top", "http://www.example.com/a/c?a=1&b=2"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com:8443/x", "https://example.com:8443/x"),
    ("https://example.com/%7euser/%2f?q=%e2%82%ac", "https://example.com/~user/%2F?q=%E2%82%AC"),
    ("https://example.com/p?fbclid=abc&gclid=1&id=7&UTM_Campaign=z", "https://example.com/p?id=7"),
    ("https://user:secret@example.com/", "https://example.com/"),
    ("https://Bücher.example/", "https://xn--bcher-kva.example/"),
    ("https://example.com./a", "https://example.com/a"),
    ("/relative", None), ("mailto:a@b.c", None), ("javascript:void(0)", None), ("http://[::1", None), ("", None),
])
def test_normalize_url(raw, want):
    assert normalize_url(raw) == want


def test_normalize_options_give_the_rfc_form():
    url = "https://www.example.com/p?b=2&utm_source=x&a=1"
    assert normalize_url(url, sort_query=False, tracking_params=()) == url
    assert normalize_url(url, drop_www=True) == "https://example.com/p?a=1&b=2"


def test_domain_parts_use_the_public_suffix_list():
    assert domain_parts("forums.news.bbc.co.uk") == ("bbc.co.uk", "co.uk")
    assert domain_parts("www.example.com") == ("example.com", "com")
    assert domain_parts("a.b.example.com.au") == ("example.com.au", "com.au")
    assert domain_parts("192.168.1.1") == ("192.168.1.1", None)
    assert domain_parts(None) == (None, None)


def test_urls_stage_adds_columns_and_keeps_every_row(spark, tmp_path):
    rows = [{"id": "a", "text": "x", "url": "https://News.BBC.co.uk/story?utm_medium=rss"},
            {"id": "b", "text": "y", "url": None},
            {"id": "c", "text": "z", "url": "not a url"}]
    kept, rejected, _ = run_stage(spark, "urls", {}, rows, tmp_path)
    assert rejected == []
    by = {r["id"]: r for r in kept}
    assert by["a"]["url_normalized"] == "https://news.bbc.co.uk/story"
    assert (by["a"]["url_host"], by["a"]["url_domain"], by["a"]["url_tld"]) == ("news.bbc.co.uk", "bbc.co.uk", "co.uk")
    assert by["a"]["url"] == "https://News.BBC.co.uk/story?utm_medium=rss"  # the original stays
    assert by["b"]["url_normalized"] is None and by["c"]["url_normalized"] is None


def test_dedup_url_keeps_the_latest_fetch(spark, tmp_path):
    rows = [
        {"id": "old", "text": "v1", "url_normalized": "https://x.org/a", "warc_date": "2023-01-01T00:00:00Z"},
        {"id": "new", "text": "v2", "url_normalized": "https://x.org/a", "warc_date": "2024-02-01T12:00:00Z"},
        {"id": "mid", "text": "v3", "url_normalized": "https://x.org/a", "warc_date": "2023-06-01T00:00:00Z"},
        {"id": "undated", "text": "v4", "url_normalized": "https://x.org/a", "warc_date": "not a date"},
        {"id": "other", "text": "w", "url_normalized": "https://x.org/b", "warc_date": "2020-01-01T00:00:00Z"},
        {"id": "nourl", "text": "n", "url_normalized": None, "warc_date": None},
        {"id": "nourl2", "text": "n", "url_normalized": None, "warc_date": None},
    ]
    kept, rejected, stats = run_stage(spark, "dedup_url", {}, rows, tmp_path)
    assert sorted(r["id"] for r in kept) == ["new", "nourl", "nourl2", "other"]
    assert {r["id"]: (r["drop_reason"], r["url_duplicate_of"]) for r in rejected} == {
        "old": ("dup:url", "new"), "mid": ("dup:url", "new"), "undated": ("dup:url", "new")}
    assert stats["duplicates"] == 3


def test_dedup_url_without_dates_keeps_the_smallest_id(spark, tmp_path):
    rows = [{"id": "b", "text": "1", "url_normalized": "https://x.org/"},
            {"id": "a", "text": "2", "url_normalized": "https://x.org/"}]
    kept, rejected, _ = run_stage(spark, "dedup_url", {"date_column": None}, rows, tmp_path)
    assert [r["id"] for r in kept] == ["a"] and [r["id"] for r in rejected] == ["b"]


def test_url_filter_reads_the_normalized_url(spark, tmp_path):
    (tmp_path / "domains.txt").write_text("spam.example\n")
    rows = [{"id": "a", "text": "x", "url": "HTTPS://WWW.SPAM.EXAMPLE./x", "url_normalized": "https://www.spam.example/x"},
            {"id": "b", "text": "y", "url": "https://fine.example/", "url_normalized": "https://fine.example/"}]
    params = {"domain_lists": [str(tmp_path / "domains.txt")]}
    kept, rejected, _ = run_stage(spark, "url_filter", params, rows, tmp_path)
    assert [r["id"] for r in rejected] == ["a"] and [r["id"] for r in kept] == ["b"]
