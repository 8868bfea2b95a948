"""The messy corpus (issue 13): real documents from the quickstart corpus (this Python's package READMEs,
licences and pydoc topics) with the ordinary bad inputs a crawl dump has, through normalize, langid,
dedup_exact, dedup_minhash and quality with on_error: reject. Every input line must be accounted for:
kept at the end, or rejected somewhere with a reason; `gristmill inspect RUN accounting` must agree.

Run with -s to see the reliability table (case -> result -> rows lost)."""
from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import duckdb
import zstandard

from gristmill.pipeline.config import parse_config
from gristmill.pipeline.inputs.pkgcorpus import iter_documents
from gristmill.pipeline.runner import Runner

STAGES = [{"normalize": {}}, {"langid": {"languages": ["en"], "min_score": 0.3}}, {"dedup_exact": {}},
          {"dedup_minhash": {"num_perm": 112, "bands": 14, "ngram": 5, "threshold": 0.8}},
          {"quality": {"rules": ["gopher", "fineweb"]}}]


def complete_lines(data: bytes, kind: str) -> int:
    """Complete lines in the decompressible prefix of a cut archive, counted without gristmill's reader."""
    d = zlib.decompressobj(wbits=31) if kind == "gz" else zstandard.ZstdDecompressor().decompressobj()
    out = d.decompress(data)
    assert not d.eof  # it really is cut
    return sum(1 for line in out.split(b"\n")[:-1] if line.strip())


def build(tmp: Path) -> tuple[Path, dict]:
    docs = [d for d in iter_documents() if d["text"]][:260]
    line = lambda d: json.dumps(d, ensure_ascii=False).encode() + b"\n"  # noqa: E731
    expect = {}
    a = tmp / "dumpA" / "part-00000.jsonl"
    b = tmp / "dumpB" / "part-00000.jsonl"  # same file name in another folder
    a.parent.mkdir(parents=True)
    b.parent.mkdir(parents=True)
    bad = [b'{"id": "broken", "text": "no closing brace"\n', b'{"text": "caf\xe9 latin-1 bytes"}\n', b"\n", b"   \n",
           b'{"id": "nulltext", "text": null}\n', b'{"id": "numtext", "text": 42}\n', b'[1, 2, 3]\n',
           # a given id used twice: the second copy is a duplicate of another document's text
           line({"id": "X5", "text": "A unique short text that only X5 has, about mountain goats and their diet."}),
           line({"id": "X5", "text": docs[1]["text"]})]
    a.write_bytes(b"".join(line(d) for d in docs[:100]) + b"".join(bad))
    b.write_bytes(b"".join(line({**d, "id": None}) for d in docs[100:160]))
    expect[a] = 100 + len(bad)  # blank lines are input too, rejected as read:blank_line
    expect[b] = 60
    raw = b"".join(line({**d, "id": f"gz-{i}"}) for i, d in enumerate(docs[160:210]))
    gz = gzip.compress(raw)[: int(len(gzip.compress(raw)) * 0.6)]
    (tmp / "cut.jsonl.gz").write_bytes(gz)
    expect[tmp / "cut.jsonl.gz"] = complete_lines(gz, "gz") + 1  # + the record of the break
    raw = b"".join(line({**d, "id": f"zst-{i}"}) for i, d in enumerate(docs[210:260]))
    zs = zstandard.ZstdCompressor().compress(raw)
    zs = zs[: int(len(zs) * 0.6)]
    (tmp / "cut.jsonl.zst").write_bytes(zs)
    expect[tmp / "cut.jsonl.zst"] = complete_lines(zs, "zst") + 1
    words = [w for d in docs[:40] for w in d["text"].split()]
    big = " ".join(words[i % len(words)] for i in range(6_000_000))[: 30 * 1024 * 1024]
    (tmp / "big.jsonl").write_bytes(line({"id": "big", "text": big}))
    expect[tmp / "big.jsonl"] = 1
    return tmp, expect


def test_messy_corpus_every_line_accounted_for(spark, tmp_path, capsys):
    data, expect = build(tmp_path / "data")
    raw = {"name": "messy", "input": {"path": str(data), "on_error": "reject"}, "stages": STAGES}
    cfg, stages = parse_config(raw)
    run = Runner(config=cfg, stages=stages, raw_config=raw, runs_dir=tmp_path / "runs", quiet=True).run()
    m = json.loads((run / "manifest.json").read_text())

    total_lines = sum(expect.values())
    rejected = sum(s["rejected"] for s in m["stages"])
    final_kept = m["stages"][-1]["kept"]
    assert m["stages"][0]["kept"] + m["stages"][0]["rejected"] == total_lines
    assert final_kept + rejected == total_lines
    for s in m["stages"]:
        assert s["in"] == s["kept"] + s["rejected"], s["dir"]
    per_file = dict(duckdb.sql(f"SELECT src_file, count(*) FROM read_parquet(['{run}/00-read/kept/*.parquet', "
                               f"'{run}/00-read/rejected/*.parquet'], union_by_name=true) GROUP BY 1").fetchall())
    assert {Path(k): v for k, v in per_file.items()} == expect
    reasons = dict(duckdb.sql(f"SELECT drop_reason, count(*) FROM '{run}/00-read/rejected/*.parquet' GROUP BY 1")
                   .fetchall())
    assert reasons == {"read:malformed": 2, "read:blank_line": 2, "read:invalid_utf8": 1, "read:missing_text": 2,
                       "read:duplicate_id": 1, "read:truncated": 2}
    nulls = duckdb.sql(f"SELECT count(*) FROM read_parquet('{run}/*/rejected/*.parquet', union_by_name=true) "
                       f"WHERE drop_reason IS NULL").fetchall()[0][0]
    assert nulls == 0
    ids = duckdb.sql(f"SELECT count(*), count(DISTINCT id) FROM '{run}/00-read/kept/*.parquet'").fetchall()[0]
    assert ids[0] == ids[1]
    sources = {r[0] for r in duckdb.sql(f"SELECT DISTINCT source FROM '{run}/00-read/kept/*.parquet'").fetchall()}
    assert {"dumpA/part-00000", "dumpB/part-00000"} <= sources

    def fate(doc_id):
        hit = duckdb.sql(f"SELECT filename, drop_reason FROM read_parquet('{run}/*/rejected/*.parquet', "
                         f"union_by_name=true, filename=true) WHERE id = '{doc_id}' AND drop_reason != "
                         f"'read:duplicate_id'").fetchall()
        return f"rejected at {Path(hit[0][0]).parts[-3]} as {hit[0][1]}" if hit else "kept to the end"
    assert "dup:exact" not in fate("X5")  # its unique text is not merged with X1's copy
    assert len(fate("big")) > 0

    from gristmill.pipeline.cli import main as cli
    capsys.readouterr()
    assert cli(["inspect", str(run), "accounting"]) == 0
    out = capsys.readouterr().out
    assert f"documents read {total_lines:,} = kept at the end {final_kept:,} + rejected somewhere {rejected:,}" in out

    table = [("same-named shards in two folders", f"{len(sources & {'dumpA/part-00000', 'dumpB/part-00000'})} "
              f"distinct sources, {ids[1]:,} distinct ids", 0),
             ("malformed JSON / JSON array line", "read:malformed", 0), ("invalid UTF-8", "read:invalid_utf8", 0),
             ("null / number text", "read:missing_text", 0), ("blank lines", "read:blank_line", 0),
             ("given id X5 twice", f"second copy read:duplicate_id; the unique X5: {fate('X5')}", 0),
             ("truncated .gz (60%)", f"{expect[tmp_path / 'data' / 'cut.jsonl.gz'] - 1} rows kept + read:truncated", 0),
             ("truncated .zst (60%)",
              f"{expect[tmp_path / 'data' / 'cut.jsonl.zst'] - 1} rows kept + read:truncated", 0),
             ("30 MB document", fate("big"), 0)]
    with capsys.disabled():
        print("\ncase | result | rows lost")
        for case, result, lost in table:
            print(f"{case} | {result} | {lost}")
        print(f"total: {total_lines} lines in, {final_kept} kept, {rejected} rejected, lost "
              f"{total_lines - final_kept - rejected}")
        print(out)
