"""WARC, WET and HTML-folder readers: real WARCs written by warcio here, every kind of bad input, and a real
crawl WARC committed under tests/data (the other one, in ../shared/data, is checked in benchmarks/gold)."""
from __future__ import annotations

import io
import re
from collections import Counter

import pytest
from helpers import REPO

from gristmill.pipeline.config import InputConfig
from gristmill.pipeline.inputs.readers import ReadError
from gristmill.pipeline.inputs.warc import iter_web

PAGE = ("<!DOCTYPE html><html lang='en'><head><title>A page</title></head><body><nav>Home | About</nav>"
        "<article><p>Common Crawl pages are read one response record at a time.</p></article></body></html>")


def write_warc(path, records, gz=True):
    """records: (url, body bytes, content type or None, HTTP status line, WARC date)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=gz)
    w.write_record(w.create_warcinfo_record(path.name, {"software": "gristmill tests"}))
    for url, body, ctype, status, date in records:
        request_headers = StatusAndHeaders("GET / HTTP/1.1", [("Host", "x")], is_http_request=True)
        req = w.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=request_headers)
        w.write_record(req)
        headers = [("Content-Type", ctype)] if ctype else []
        http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                            warc_headers_dict={"WARC-Date": date}))
    path.write_bytes(buf.getvalue())
    return path


def rec(url, body=PAGE.encode(), ctype="text/html; charset=utf-8", status="200 OK", date="2024-05-01T00:00:00Z"):
    return (url, body, ctype, status, date)


def read(path, fmt="warc", **kw):
    cfg = InputConfig(format=fmt, path=str(path), on_error=kw.pop("on_error", "reject"), **kw)
    return list(iter_web(cfg, str(path), path.name))


def reasons(rows):
    return Counter(r.get("drop_reason") for r in rows)


def test_response_records_become_documents_with_warc_columns(tmp_path):
    p = write_warc(tmp_path / "a.warc.gz",
                   [rec("http://a.example/1"), rec("http://a.example/2", date="2024-06-01T00:00:00Z")])
    rows = read(p)
    assert [r["url"] for r in rows] == ["http://a.example/1", "http://a.example/2"]  # request/warcinfo skipped
    r = rows[0]
    assert r["text"] == PAGE and r.get("drop_reason") is None and r["content_type"] == "text/html"
    assert r["id"].startswith("urn:uuid:") and r["warc_record_id"] == f"<{r['id']}>"
    assert r["warc_date"] == "2024-05-01T00:00:00Z" and r["http_status"] == 200 and r["charset"] == "utf-8"
    assert r["src_file"] == str(p) and isinstance(r["src_row"], int) and r["source"] == "a"


def test_zstd_warc_reads_like_the_plain_file(tmp_path):
    import zstandard
    plain = write_warc(tmp_path / "a.warc", [rec(f"http://z.example/{i}") for i in range(3)], gz=False)
    packed = tmp_path / "b.warc.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    want = [f"http://z.example/{i}" for i in range(3)]
    assert [r["url"] for r in read(packed)] == [r["url"] for r in read(plain)] == want


def test_non_html_http_errors_and_empty_bodies_are_named_rejections(tmp_path):
    p = write_warc(tmp_path / "mixed.warc.gz", [
        rec("http://x/doc.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf"),
        rec("http://x/img.png", b"\x89PNG\r\n\x1a\n" + bytes(32), "image/png"),
        rec("http://x/gone", b"<html>gone</html>", status="404 Not Found"),
        rec("http://x/empty", b""),
        rec("http://x/untyped", PAGE.encode(), None),  # no content type, but HTML by its bytes
        rec("http://x/ok"),
    ])
    rows = {r["url"]: r for r in read(p)}
    assert rows["http://x/doc.pdf"].get("drop_reason") == "read:non_html"
    assert "application/pdf" in rows["http://x/doc.pdf"]["read_error"] and rows["http://x/doc.pdf"]["text"] is None
    assert rows["http://x/img.png"].get("drop_reason") == "read:non_html"
    gone = rows["http://x/gone"]
    assert gone.get("drop_reason") == "read:http_status" and gone["http_status"] == 404
    assert rows["http://x/empty"].get("drop_reason") == "read:empty"
    assert rows["http://x/untyped"].get("drop_reason") is None
    assert rows["http://x/ok"].get("drop_reason") is None


def test_charsets_header_meta_detection_and_mislabelled_utf8(tmp_path):
    text = "Größere Übungen für Zürich, déjà vu. " * 20

    def html(meta):
        return f"<html><head>{meta}</head><body><p>{text}</p></body></html>"
    p = write_warc(tmp_path / "cs.warc", [
        rec("http://x/header", html("").encode("cp1252"), "text/html; charset=windows-1252"),
        rec("http://x/meta", html('<meta charset="iso-8859-1">').encode("cp1252"), "text/html"),
        rec("http://x/detect", html("").encode("cp1252"), "text/html"),
        rec("http://x/mislabelled", html("").encode("utf-8"), "text/html; charset=iso-8859-1"),
        rec("http://x/broken", html("").encode("utf-8").replace("ü".encode(), b"\xff", 3), "text/html; charset=utf-8"),
    ], gz=False)
    rows = {r["url"].rsplit("/", 1)[1]: r for r in read(p)}
    for key in ("header", "meta", "detect", "mislabelled"):
        assert text in rows[key]["text"], key
        assert rows[key]["decode_errors"] == 0
    assert rows["header"]["charset"] == "cp1252" and rows["mislabelled"]["charset"] == "utf-8"
    broken = rows["broken"]  # undecodable bytes are replaced and counted, the page is kept
    assert broken.get("drop_reason") is None and broken["charset"] == "utf-8" and broken["decode_errors"] == 3
    assert "\ufffd" in broken["text"] and "Größere Übungen" in broken["text"]


def _plain(tmp_path, n=4):
    p = write_warc(tmp_path / "plain.warc", [rec(f"http://x/{i}") for i in range(n)], gz=False)
    return p, p.read_bytes()


def test_truncated_gz_keeps_the_records_before_and_names_the_offset(tmp_path):
    p = write_warc(tmp_path / "t.warc.gz", [rec(f"http://x/{i}", (PAGE * 50).encode()) for i in range(6)])
    raw = p.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(raw[: int(len(raw) * 0.7)])
    rows = read(cut)
    kept = [r for r in rows if r.get("drop_reason") is None]
    bad = [r for r in rows if r.get("drop_reason") == "read:warc_record"]
    assert 2 <= len(kept) < 6 and len(bad) == 1
    assert str(cut) in bad[0]["read_error"] and "truncated or corrupt" in bad[0]["read_error"]
    assert f"byte {bad[0]['src_row']:,}" in bad[0]["read_error"]
    with pytest.raises(ReadError, match="(?s)cut.warc.gz.*on_error: reject"):
        read(cut, on_error="raise")


def test_truncated_zstd_keeps_the_records_before_and_names_the_offset(tmp_path):
    import zstandard
    pages = [rec(f"http://x/{i}", (PAGE * 50).encode()) for i in range(6)]
    raw = write_warc(tmp_path / "t.warc", pages, gz=False).read_bytes()
    records = [b"WARC/1.0\r\n" + r for r in raw.split(b"WARC/1.0\r\n")[1:]]
    packed = b"".join(zstandard.ZstdCompressor().compress(r) for r in records)  # a frame per record, as crawlers write
    cut = tmp_path / "cut.warc.zst"
    cut.write_bytes(packed[: int(len(packed) * 0.7)])
    rows = read(cut)
    kept = [r for r in rows if r.get("drop_reason") is None]
    bad = [r for r in rows if r.get("drop_reason") == "read:warc_record"]
    assert 2 <= len(kept) < 6 and len(bad) == 1 and len(rows) == len(kept) + 1
    assert str(cut) in bad[0]["read_error"] and "truncated" in bad[0]["read_error"]


@pytest.mark.parametrize("new_length", [40, 10_000_000])
def test_lying_content_length_rejects_that_record_and_reads_on(tmp_path, new_length):
    p, raw = _plain(tmp_path)
    lengths = [m for m in re.finditer(rb"WARC-Type: response.*?Content-Length: (\d+)", raw, re.S)]
    m = lengths[1]  # the second response lies
    bad = raw[: m.start(1)] + str(new_length).encode() + raw[m.end(1):]
    (tmp_path / "lie.warc").write_bytes(bad)
    rows = read(tmp_path / "lie.warc")
    assert [r["url"] for r in rows if r.get("drop_reason") is None] == ["http://x/0", "http://x/2", "http://x/3"]
    rej = [r for r in rows if r.get("drop_reason") == "read:warc_record"]
    assert [r["url"] for r in rej] == ["http://x/1"] and "lie.warc: record at byte" in rej[0]["read_error"]


def test_lying_content_length_without_digests_is_found_by_the_swallowed_header(tmp_path):
    p, raw = _plain(tmp_path)
    raw = re.sub(rb"WARC-(Block|Payload)-Digest: [^\r]*\r\n", b"", raw)
    m = list(re.finditer(rb"WARC-Type: response.*?Content-Length: (\d+)", raw, re.S))[1]
    (tmp_path / "lie.warc").write_bytes(raw[: m.start(1)] + b"900000" + raw[m.end(1):])
    rows = read(tmp_path / "lie.warc")
    assert [r["url"] for r in rows if r.get("drop_reason") is None] == ["http://x/0", "http://x/2", "http://x/3"]
    assert "runs into the next record" in [r for r in rows if r.get("drop_reason")][0]["read_error"]


def test_garbage_between_records_is_skipped_to_the_next_header(tmp_path):
    p, raw = _plain(tmp_path)
    i = [m.start() for m in re.finditer(rb"WARC/1\.[01]\r\n", raw)][4]
    (tmp_path / "g.warc").write_bytes(raw[:i] + b"\x00garbage\r\n" * 100 + raw[i:])
    rows = read(tmp_path / "g.warc")
    assert len([r for r in rows if r.get("drop_reason") is None]) >= 3
    assert sum(r.get("drop_reason") == "read:warc_record" for r in rows) <= 1


def test_empty_warc_is_a_named_rejection_or_a_clear_error(tmp_path):
    (tmp_path / "empty.warc.gz").write_bytes(b"")
    rows = read(tmp_path / "empty.warc.gz")
    assert [r.get("drop_reason") for r in rows] == ["read:empty_file"]
    with pytest.raises(ReadError, match="empty.warc.gz: no WARC records"):
        read(tmp_path / "empty.warc.gz", on_error="raise")


def test_wet_conversion_records(tmp_path):
    from warcio.warcwriter import WARCWriter
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    for i, text in enumerate(["Plain text one.\nSecond line.", "Zweiter Text, schön."]):
        w.write_record(w.create_warc_record(f"http://w/{i}", "conversion", payload=io.BytesIO(text.encode()),
                                            warc_content_type="text/plain"))
    (tmp_path / "a.warc.wet.gz").write_bytes(buf.getvalue())
    rows = read(tmp_path / "a.warc.wet.gz", fmt="wet")
    assert [r["text"] for r in rows] == ["Plain text one.\nSecond line.", "Zweiter Text, schön."]
    assert {r["content_type"] for r in rows} == {"text/plain"}


def test_html_folder(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.html").write_bytes(PAGE.encode())
    (tmp_path / "site" / "b.htm").write_bytes('<meta charset="windows-1252"><p>caf\xe9</p>'.encode("latin-1"))
    (tmp_path / "site" / "c.html").write_bytes(b"")
    from gristmill.pipeline.inputs.readers import list_files
    cfg = InputConfig(format="html", path=str(tmp_path / "site"), on_error="reject")
    rows = [r for p, rel in list_files(cfg) for r in iter_web(cfg, p, rel)]
    assert [r.get("drop_reason") for r in rows] == [None, None, "read:empty"]
    assert rows[1]["text"].endswith("café</p>") and rows[1]["charset"] == "cp1252"


def test_spark_reader_one_task_per_file_every_record_accounted(spark, tmp_path):
    from gristmill.pipeline.inputs.sources import read_input
    d = tmp_path / "crawl"
    d.mkdir()
    write_warc(d / "a.warc.gz", [rec(f"http://a/{i}") for i in range(3)])
    write_warc(d / "b.warc.gz", [rec("http://b/pdf", b"%PDF", "application/pdf"), rec("http://b/1")])
    cfg = InputConfig(format="warc", path=str(d), on_error="reject")
    rows = [r.asDict() for r in read_input(spark, cfg).collect()]
    assert len(rows) == 5 and reasons(rows) == Counter({None: 4, "read:non_html": 1})
    assert {"warc_date", "warc_record_id", "content_type", "charset", "decode_errors"} <= set(rows[0])
    assert len({r["id"] for r in rows}) == 5


def test_the_shipped_sample_warc_reads(tmp_path):
    rows = read(REPO / "configs" / "data" / "cc_sample.warc.gz")
    got = reasons(rows)
    assert got["read:non_html"] == 2 and got["read:http_status"] == 2 and got["read:empty"] == 1
    assert got[None] >= 40


def _check_real_warc(path, n):
    rows = read(path)
    assert len(rows) == n and reasons(rows) == Counter({None: n})
    assert all(r["url"].startswith("http") and "<" not in r["url"] for r in rows)
    assert all("<html" in r["text"].lower() for r in rows)


def test_a_real_crawl_warc_committed():
    from helpers import TEST_DATA
    _check_real_warc(TEST_DATA / "web" / "warc" / "dolma_sample-0001.warc.gz", 15)  # on every clone


@pytest.mark.slow
def test_common_crawl_config_runs_from_a_clone(tmp_path, monkeypatch):
    import json

    from gristmill.pipeline.runner import Runner
    monkeypatch.chdir(REPO)  # the config's input path is relative to the repository root, as in the README
    run = Runner(REPO / "configs" / "common_crawl.yaml", runs_dir=tmp_path, quiet=True).run()
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    counts = {s["name"]: (s["in"], s["kept"], s["rejected"]) for s in stages}
    assert counts["read"][1:] == (52, 5)
    assert counts["dedup_url"][2] == 8  # older fetches and the tracking-parameter copies of the same pages
    assert all(s["status"] == "done" for s in stages) and counts["domain"][1] > 0
    assert all(n_in == kept + rej for n_in, kept, rej in counts.values())
