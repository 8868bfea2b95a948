"""Readers: formats, field names, stable ids and every kind of bad input."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.pipeline.config import InputConfig
from gristmill.pipeline.inputs.readers import ReadError, iter_task, list_files, plan_tasks
from gristmill.pipeline.inputs.sources import read_input


def rows(cfg):
    out = []
    for task in plan_tasks(cfg):
        out += list(iter_task(cfg, *task))
    return out


def write_jsonl(path, objs, opener=open):
    with opener(path, "wt", encoding="utf-8") as fh:
        for o in objs:
            fh.write(o if isinstance(o, str) else json.dumps(o))
            fh.write("\n")


DOCS = [{"text": "first doc", "meta": {"url": "http://a"}, "lang": "en"}, {"text": "second", "id": 7}]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_compressions(tmp_path, suffix):
    path = tmp_path / f"part{suffix}"
    if suffix == ".jsonl.zst":
        import zstandard
        path.write_bytes(zstandard.ZstdCompressor().compress("\n".join(json.dumps(d) for d in DOCS).encode()))
    else:
        write_jsonl(path, DOCS, gzip.open if suffix.endswith(".gz") else open)
    out = rows(InputConfig(path=str(path), url_field="meta.url", keep_fields=["lang"]))
    assert [r["text"] for r in out] == ["first doc", "second"]
    assert out[0]["url"] == "http://a" and out[0]["lang"] == "en" and out[0]["source"] == "part"
    assert out[1]["id"] == "7"
    assert out[0]["id"] == rows(InputConfig(path=str(path)))[0]["id"]  # stable across reads


def test_ids_unique_for_identical_texts(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"text": "same"}] * 3)
    out = rows(InputConfig(path=str(tmp_path / "a.jsonl")))
    assert len({r["id"] for r in out}) == 3


def test_parquet_and_custom_fields(tmp_path):
    pq.write_table(pa.table({"body": ["x", "y"], "doc": ["d1", "d2"]}), tmp_path / "f.parquet")
    out = rows(InputConfig(format="parquet", path=str(tmp_path), text_field="body", id_field="doc"))
    assert [(r["id"], r["text"]) for r in out] == [("d1", "x"), ("d2", "y")]


def test_parquet_missing_text_column(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "f.parquet")
    with pytest.raises(ReadError, match="no column 'text'.*body"):
        rows(InputConfig(format="parquet", path=str(tmp_path)))


def test_hf_dataset_saved_to_disk(tmp_path):
    import datasets
    datasets.Dataset.from_dict({"text": ["alpha", "beta"], "url": ["u1", None]}).save_to_disk(str(tmp_path / "ds"))
    out = rows(InputConfig(format="hf_disk", path=str(tmp_path / "ds")))
    assert sorted(r["text"] for r in out) == ["alpha", "beta"]


def test_txt_folder(tmp_path):
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "a.txt").write_text("one\ntwo")
    (tmp_path / "books" / "b.txt").write_text("three")
    out = rows(InputConfig(format="txt", path=str(tmp_path)))
    assert sorted(r["text"] for r in out) == ["one\ntwo", "three"] and out[0]["source"] == "books"


def test_missing_path_is_clear(tmp_path):
    with pytest.raises(ReadError, match="matches no jsonl files"):
        list_files(InputConfig(path=str(tmp_path / "nope" / "*.jsonl")))


def test_malformed_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    write_jsonl(p, [{"text": "ok"}, '{"text": broken', {"text": "ok2"}])
    with pytest.raises(ReadError, match=r"bad.jsonl:2: malformed JSON"):
        rows(InputConfig(path=str(p)))
    out = rows(InputConfig(path=str(p), on_error="reject"))
    assert [r.get("drop_reason") for r in out] == [None, "read:malformed", None]
    assert "bad.jsonl:2" in out[1]["read_error"]


def test_invalid_utf8_and_missing_text(tmp_path):
    p = tmp_path / "enc.jsonl"
    p.write_bytes(b'{"text": "caf\xe9"}\n{"body": "no text"}\n{"text": 5}\n')
    with pytest.raises(ReadError, match=r"enc.jsonl:1: invalid UTF-8"):
        rows(InputConfig(path=str(p)))
    out = rows(InputConfig(path=str(p), on_error="reject"))
    assert [r["drop_reason"] for r in out] == ["read:invalid_utf8", "read:missing_text", "read:missing_text"]
    assert "enc.jsonl:3" in out[2]["read_error"] and "int" in out[2]["read_error"]


def test_empty_file_gives_no_rows(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    assert rows(InputConfig(path=str(tmp_path / "empty.jsonl"))) == []


def test_split_plain_jsonl_reads_every_line_once(tmp_path, monkeypatch):
    import gristmill.pipeline.inputs.readers as readers
    p = tmp_path / "big.jsonl"
    write_jsonl(p, [{"text": f"doc {i} " + "x" * (i % 37)} for i in range(500)])
    whole = rows(InputConfig(path=str(p)))
    monkeypatch.setattr(readers, "SPLIT_BYTES", 1000)
    cfg = InputConfig(path=str(p))
    assert len(plan_tasks(cfg)) > 5
    split = rows(cfg)
    assert [r["id"] for r in split] == [r["id"] for r in whole]


def test_spark_read_with_50mb_document(spark, tmp_path):
    big = "word " * (10 * 1024 * 1024)  # 50 MB of text in one line
    write_jsonl(tmp_path / "big.jsonl", [{"text": "small"}, {"text": big}])
    df = read_input(spark, InputConfig(path=str(tmp_path / "big.jsonl")))
    got = {r["n"]: r["drop_reason"] for r in df.selectExpr("length(text) AS n", "drop_reason").collect()}
    assert got == {5: None, len(big): None}
    df = read_input(spark, InputConfig(path=str(tmp_path / "big.jsonl"), max_doc_bytes=1024 * 1024))
    assert sorted(r[0] or "" for r in df.select("drop_reason").collect()) == ["", "read:too_large"]


def test_spark_read_error_surfaces_file_and_line(spark, tmp_path):
    from gristmill.pipeline.errors import spark_error_message
    write_jsonl(tmp_path / "bad.jsonl", [{"text": "ok"}, "not json"])
    with pytest.raises(Exception) as e:
        read_input(spark, InputConfig(path=str(tmp_path / "bad.jsonl"))).collect()
    msg = spark_error_message(e.value)
    assert msg and "bad.jsonl:2: malformed JSON" in msg and "on_error: reject" in msg
