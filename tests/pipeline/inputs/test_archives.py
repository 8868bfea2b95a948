"""Truncated and corrupt archives (issue 13, item 2): rows before the break are kept, the break is a
rejected record naming file, last good line and byte offset, and the run never stops under on_error: reject."""
import gzip
import json

import pytest
import zstandard

from gristmill.pipeline.config import InputConfig
from gristmill.pipeline.inputs.readers import ReadError, iter_task, plan_tasks


def rows(cfg):
    out = []
    for task in plan_tasks(cfg):
        out += list(iter_task(cfg, *task))
    return out


def lines(n):
    # varied texts so the compressed stream is not tiny; each line ~200 bytes
    return "".join(json.dumps({"id": f"d{i}", "text": f"document {i} " + "word%d " % (i * 7) * 25}) + "\n"
                   for i in range(n)).encode()


def cut(path, data, frac):
    path.write_bytes(data[: int(len(data) * frac)])
    return path


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_truncated_archive_keeps_rows_and_records_the_break(tmp_path, kind):
    raw = lines(3000)
    packed = gzip.compress(raw) if kind == "gz" else zstandard.ZstdCompressor().compress(raw)
    path = cut(tmp_path / f"part.jsonl.{kind}", packed, 0.6)
    out = rows(InputConfig(path=str(path), on_error="reject"))
    good = [r for r in out if r.get("drop_reason") is None]
    bad = [r for r in out if r.get("drop_reason") is not None]
    assert 1000 < len(good) < 3000
    assert [r["id"] for r in good] == [f"d{i}" for i in range(len(good))]  # a prefix, in order, nothing skipped
    assert [r.get("drop_reason") for r in bad] == ["read:truncated"]
    msg = bad[0]["read_error"]
    assert str(path) in msg and f"line {len(good)}" in msg and "byte" in msg


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_truncated_archive_raises_naming_file_and_line(tmp_path, kind):
    raw = lines(500)
    packed = gzip.compress(raw) if kind == "gz" else zstandard.ZstdCompressor().compress(raw)
    path = cut(tmp_path / f"part.jsonl.{kind}", packed, 0.5)
    with pytest.raises(ReadError) as e:
        rows(InputConfig(path=str(path)))
    assert str(path) in str(e.value) and "line" in str(e.value) and "on_error: reject" in str(e.value)


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_not_an_archive_is_corrupt_archive(tmp_path, kind):
    path = tmp_path / f"part.jsonl.{kind}"
    path.write_bytes(lines(20))  # plain text under a compressed name
    out = rows(InputConfig(path=str(path), on_error="reject"))
    assert [r.get("drop_reason") for r in out] == ["read:corrupt_archive"]
    assert str(path) in out[0]["read_error"] and "byte 0" in out[0]["read_error"]


def test_multi_member_gzip_and_multi_frame_zstd_read_whole(tmp_path):
    a, b = lines(10), lines(20)[len(lines(10)):]
    (tmp_path / "m.jsonl.gz").write_bytes(gzip.compress(a) + gzip.compress(b))
    c = zstandard.ZstdCompressor()
    (tmp_path / "m.jsonl.zst").write_bytes(c.compress(a) + c.compress(b))
    for name in ("m.jsonl.gz", "m.jsonl.zst"):
        out = rows(InputConfig(path=str(tmp_path / name), on_error="reject"))
        assert [r["id"] for r in out] == [f"d{i}" for i in range(20)]
        assert all(r.get("drop_reason") is None for r in out)


def test_zstd_streaming_frame_without_content_size(tmp_path):
    raw = lines(300)
    path = tmp_path / "s.jsonl.zst"
    with open(path, "wb") as fh, zstandard.ZstdCompressor().stream_writer(fh) as w:
        for i, line in enumerate(raw.splitlines(keepends=True)):
            w.write(line)
            if i % 50 == 49:  # as a log shipper does: blocks flushed as they fill, one frame
                w.flush(zstandard.FLUSH_BLOCK)
    assert len(rows(InputConfig(path=str(path)))) == 300
    data = path.read_bytes()
    cut(path, data, 0.5)
    out = rows(InputConfig(path=str(path), on_error="reject"))
    assert out[-1].get("drop_reason") == "read:truncated" and 50 < len(out) < 300


def test_spark_read_continues_past_broken_archives(spark, tmp_path):
    from gristmill.pipeline.inputs.sources import read_input
    raw = lines(400)
    cut(tmp_path / "a.jsonl.gz", gzip.compress(raw), 0.5)
    (tmp_path / "b.jsonl.zst").write_bytes(b"not zstd at all\n")
    (tmp_path / "c.jsonl").write_bytes(lines(5))
    df = read_input(spark, InputConfig(path=str(tmp_path), on_error="reject", id_field=None))
    counts = df.groupBy("drop_reason").count().withColumnRenamed("count", "n").collect()
    got = {r["drop_reason"]: r["n"] for r in counts}
    assert got["read:truncated"] == 1 and got["read:corrupt_archive"] == 1 and got[None] > 100
