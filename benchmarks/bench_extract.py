"""HTML extraction: quality on the two gold sets, token yield, and WARC -> text speed against datatrove.

Quality (scoring rules of ../shared/data/extract/README.md):
- set A (scrapinghub article-extraction benchmark, 181 pages): `\\w+` tokens in 4-token shingles as multisets,
  per-page P/R normalised, means over pages, F1 = 2PR/(P+R);
- set B (trafilatura's eval snippets, 250 pages): "with" snippets found = TP, missing = FN, "without"
  snippets found = FP, summed; F1 from those.
Token yield: `\\w+` tokens extracted over both sets, relative to trafilatura.

Speed: the gold pages (both sets) are written into one WARC (warcio, gzip per record); gristmill reads it with
its WARC reader and extracts with the extract stage's child-process path (in-process, one core: the work a
Spark task does, without Spark's start-up); datatrove reads the same bytes with `WarcReader` and extracts with
its `Trafilatura` step (its defaults: favour_precision, dedup, 1 s timeout in its own sandbox). One run, the
load average printed beside each number.

    python benchmarks/bench_extract.py [--data ../shared/data] [--repeat 1]
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "benchmarks" / "cache"
RESULTS = REPO / "benchmarks" / "results"
_TOK = re.compile(r"\w+")
_WS = re.compile(r"\s+")


def load(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(x) for x in fh]


def shingles(text: str, n: int = 4) -> Counter:
    toks = _TOK.findall(text or "")
    return Counter(tuple(toks[i:i + n]) for i in range(max(0, len(toks) - n + 1)))


def score_a(pages: list[dict], outs: list[str]) -> tuple[float, float, float]:
    ps, rs = [], []
    for page, out in zip(pages, outs):
        gold, got = shingles(page["expected_text"]), shingles(out)
        tp = sum((gold & got).values())
        fp = sum((got - gold).values())
        fn = sum((gold - got).values())
        total = tp + fp + fn
        if total == 0:
            ps.append(1.0), rs.append(1.0)
            continue
        tp, fp, fn = tp / total, fp / total, fn / total
        ps.append(tp / (tp + fp) if tp + fp else 0.0)
        rs.append(tp / (tp + fn) if tp + fn else 0.0)
    p, r = sum(ps) / len(ps), sum(rs) / len(rs)
    return 2 * p * r / (p + r) if p + r else 0.0, p, r


def score_b(pages: list[dict], outs: list[str]) -> float:
    tp = fp = fn = 0
    for page, out in zip(pages, outs):
        text = _WS.sub(" ", out or "")
        for s in page.get("expected_with") or []:
            if _WS.sub(" ", s).strip() in text:
                tp += 1
            else:
                fn += 1
        for s in page.get("expected_without") or []:
            if _WS.sub(" ", s).strip() in text:
                fp += 1
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def loadavg() -> str:
    return open("/proc/loadavg").read().split()[0]


def gristmill_fn(extractor: str, **kw):
    from gristmill.stages.extract.stage import ExtractConfig, extract_page
    return partial(extract_page, ExtractConfig(extractor=extractor, **kw))


def datatrove_fn():
    from datatrove.pipeline.extractors import Trafilatura
    step = Trafilatura()
    return lambda html: {"text": step.extract(html) or "", "used": "datatrove"}


def run_quality(a: list[dict], b: list[dict], methods: dict) -> tuple[list[dict], dict]:
    rows, outputs = [], {}
    for name, fn in methods.items():
        outs = {}
        t0 = time.perf_counter()
        for tag, pages in (("a", a), ("b", b)):
            res = []
            for p in pages:
                try:
                    res.append(fn(p["html"]))
                except Exception:  # an extractor error counts as an empty extraction
                    res.append({"text": "", "used": "error"})
            outs[tag] = res
        secs = time.perf_counter() - t0
        outputs[name] = outs
        ta = [r["text"] for r in outs["a"]]
        tb = [r["text"] for r in outs["b"]]
        f1a, pa, ra = score_a(a, ta)
        tokens = sum(len(_TOK.findall(t or "")) for t in ta + tb)
        used = Counter(r.get("used") for r in outs["a"] + outs["b"])
        rows.append({"method": name, "f1_a": f1a, "p_a": pa, "r_a": ra, "f1_b": score_b(b, tb), "tokens": tokens,
                     "pages_s": (len(a) + len(b)) / secs, "load": loadavg(), "used": dict(used)})
        print(f"  {name}: A {f1a:.3f} B {rows[-1]['f1_b']:.3f} tokens {tokens:,} "
              f"{rows[-1]['pages_s']:.1f} pages/s (load {rows[-1]['load']})", file=sys.stderr, flush=True)
    return rows, outputs


def build_warc(pages: list[dict], path: Path) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    for i, p in enumerate(pages):
        body = p["html"].encode("utf-8")
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(p.get("url") or f"https://gold.example/{i}", "response",
                                            payload=io.BytesIO(body), http_headers=http,
                                            warc_headers_dict={"WARC-Date": "2024-01-01T00:00:00Z",
                                                               "WARC-Identified-Payload-Type": "text/html"}))
    path.write_bytes(buf.getvalue())
    return path


# datatrove's Trafilatura step as shipped: favour_precision, deduplicate, no comments, a 1 s limit per page
DATATROVE_OPTIONS = {"favor_precision": True, "deduplicate": True}


def speed_gristmill(warc: Path, extractor: str, **settings) -> tuple[int, float]:
    """Reader + the extract stage's process_batch (the child-process path a Spark task runs)."""
    import pyarrow as pa

    from gristmill.pipeline.config import InputConfig
    from gristmill.pipeline.inputs.warc import iter_web
    from gristmill.stages.extract.stage import Extract, ExtractConfig
    stage = Extract(ExtractConfig(extractor=extractor, min_chars=1, **settings))
    t0 = time.perf_counter()
    stage.setup()
    cfg = InputConfig(format="warc", path=str(warc), on_error="reject")
    rows = [r for r in iter_web(cfg, str(warc), warc.name) if not r.get("drop_reason")]
    done = 0
    for i in range(0, len(rows), 256):
        chunk = rows[i:i + 256]
        batch = pa.RecordBatch.from_pydict({"id": [r["id"] for r in chunk], "text": [r["text"] for r in chunk]})
        out = stage.process_batch(batch)
        done += sum(1 for t in out.column("text").to_pylist() if t)
    secs = time.perf_counter() - t0
    stage.sandbox.close()
    return done, secs


def speed_datatrove(warc: Path) -> tuple[int, float]:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    t0 = time.perf_counter()
    reader = WarcReader(str(warc.parent), glob_pattern=warc.name)
    done = sum(1 for d in Trafilatura().run(reader.run()) if d.text)
    return done, time.perf_counter() - t0


def cascade_grid(a, b, outputs) -> list[dict]:
    """The cascade's choice per page depends only on resiliparse's output and the page's visible text, so
    every threshold pair is scored from the two extractors' outputs (the real cascade gives the same texts)."""
    from gristmill.stages.extract import extractors as ex
    feats = {}
    for tag, pages in (("a", a), ("b", b)):
        fast = [len("".join(ex.paragraphs(r["text"]))) for r in outputs["resiliparse"][tag]]
        page = [len(ex.norm(ex.full_text(p["html"]))) for p in pages]
        feats[tag] = list(zip(fast, page))
    rows = []
    for min_chars in (0, 250, 500, 1000, 2000):
        for ratio in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
            outs, slow = {}, 0
            for tag in ("a", "b"):
                res = []
                for (fast, page), r, t in zip(feats[tag], outputs["resiliparse"][tag], outputs["trafilatura"][tag]):
                    unsure = fast < min_chars or (page and fast / page > ratio)
                    slow += unsure
                    res.append(t["text"] if unsure and t["text"] else r["text"])
                outs[tag] = res
            rows.append({"min_chars": min_chars, "ratio": ratio, "f1_a": score_a(a, outs["a"])[0],
                         "f1_b": score_b(b, outs["b"]), "precise_share": slow / (len(a) + len(b))})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = REPO.parent / "shared" / "data"
    ap.add_argument("--data", default=str(default if default.exists() else Path("/work/shared/data")))
    a_ = ap.parse_args()
    data = Path(a_.data) / "extract"
    a = load(data / "scrapinghub_article_extraction_181pages.jsonl.gz")
    b = load(data / "trafilatura_eval_snippets_250pages.jsonl.gz")
    print(f"gold: A {len(a)} pages, B {len(b)} pages; load {loadavg()}", file=sys.stderr)

    methods = {
        "resiliparse": gristmill_fn("resiliparse"),
        "trafilatura (default)": gristmill_fn("trafilatura"),
        "trafilatura no_fallback": gristmill_fn("trafilatura", trafilatura_options={"no_fallback": True}),
        "trafilatura favor_precision": gristmill_fn("trafilatura", trafilatura_options={"favor_precision": True}),
        "justext": gristmill_fn("justext"),
        "union resiliparse+trafilatura": gristmill_fn("union"),
        "union all three": gristmill_fn("union", union_of=["resiliparse", "trafilatura", "justext"]),
        "cascade (defaults)": gristmill_fn("cascade"),
        "datatrove Trafilatura": datatrove_fn(),
    }
    rows, outputs = run_quality(a, b, methods)
    outputs["trafilatura"] = outputs["trafilatura (default)"]
    grid = cascade_grid(a, b, outputs)

    warc = build_warc(a + b, CACHE / "gold_pages.warc.gz")
    speed = []
    for name, fn in [("gristmill resiliparse", lambda: speed_gristmill(warc, "resiliparse")),
                     ("datatrove WarcReader + Trafilatura", lambda: speed_datatrove(warc)),
                     ("gristmill cascade", lambda: speed_gristmill(warc, "cascade")),
                     ("gristmill trafilatura (default)", lambda: speed_gristmill(warc, "trafilatura")),
                     ("gristmill trafilatura, datatrove's options and 1 s limit",
                      lambda: speed_gristmill(warc, "trafilatura", trafilatura_options=DATATROVE_OPTIONS,
                                              time_limit_s=1.0)),
                     ("gristmill union", lambda: speed_gristmill(warc, "union"))]:
        load_before = loadavg()
        n, secs = fn()
        speed.append({"method": name, "docs": n, "secs": secs, "docs_s": n / secs,
                      "load": f"{load_before}/{loadavg()}"})
        print(f"  speed {name}: {n} docs in {secs:.1f}s = {n / secs:.1f} docs/s (load {speed[-1]['load']})",
              file=sys.stderr, flush=True)
    write_table(rows, grid, speed, warc)


def write_table(rows, grid, speed, warc) -> None:
    base = next(r["tokens"] for r in rows if r["method"] == "trafilatura (default)")
    dt = next(s["docs_s"] for s in speed if s["method"].startswith("datatrove"))
    lines = ["# HTML extraction: quality, token yield, WARC -> text speed", "",
             f"Command: `python benchmarks/bench_extract.py` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 2-core shared machine, load average shown "
             f"per row). Scoring rules: ../shared/data/extract/README.md.", "",
             "| extractor | A: shingle F1 (P / R) | B: snippet F1 | tokens (vs trafilatura) | pages/s | load |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['f1_a']:.3f} ({r['p_a']:.3f} / {r['r_a']:.3f}) | {r['f1_b']:.3f} | "
                     f"{r['tokens']:,} ({r['tokens'] / base:.2f}x) | {r['pages_s']:.1f} | {r['load']} |")
    lines += ["", f"WARC -> text, one core, the same {warc.stat().st_size:,}-byte WARC of the gold pages:", "",
              "| pipeline | docs with text | seconds | docs/s | vs datatrove | load before/after |",
              "|---|---|---|---|---|---|"]
    for s in speed:
        lines.append(f"| {s['method']} | {s['docs']} | {s['secs']:.1f} | {s['docs_s']:.1f} | "
                     f"{s['docs_s'] / dt:.2f}x | {s['load']} |")
    best = sorted(grid, key=lambda g: -(g["f1_a"] + g["f1_b"]))[:8]
    lines += ["", "Cascade thresholds (resiliparse first; trafilatura where resiliparse kept < min_chars or more "
              "than `ratio` of the page's visible text), scored from the two extractors' outputs:", "",
              "| min_chars | ratio | A F1 | B F1 | pages sent to trafilatura |", "|---|---|---|---|---|"]
    for g in best:
        lines.append(f"| {g['min_chars']} | {g['ratio']} | {g['f1_a']:.3f} | {g['f1_b']:.3f} | "
                     f"{g['precise_share']:.0%} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "extract.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    write_claims(rows, speed)


def write_claims(rows, speed) -> None:
    """At parity: trafilatura with datatrove's options on both sides. gristmill's default (trafilatura as
    published) and its fast choice (resiliparse) are labelled rows with their F1 beside datatrove's."""
    from harness import parity
    from harness import write_claims as save
    by = {s["method"]: s for s in speed}
    q = {r["method"]: r for r in rows}
    dt = by["datatrove WarcReader + Trafilatura"]
    f1 = lambda m: f"F1 A/B {q[m]['f1_a']:.3f}/{q[m]['f1_b']:.3f}"  # noqa: E731
    peer_f1 = f1("datatrove Trafilatura")
    entries = [
        ("gristmill trafilatura, datatrove's options and 1 s limit", "WARC -> text docs/s, trafilatura with "
         "datatrove's options on both sides, one core, the gold pages' WARC", parity()),
        ("gristmill trafilatura (default)", "(gristmill default: trafilatura as published, "
         f"{f1('trafilatura (default)')} vs datatrove's {peer_f1}) WARC -> text docs/s",
         parity(steps="gristmill: trafilatura's defaults; datatrove: favor_precision, deduplicate")),
        ("gristmill resiliparse", f"(gristmill's fast choice: resiliparse, {f1('resiliparse')} vs datatrove's "
         f"{peer_f1}) WARC -> text docs/s", parity(steps="a different extractor (resiliparse)")),
        ("gristmill cascade", f"(cascade resiliparse->trafilatura, {f1('cascade (defaults)')} vs datatrove's "
         f"{peer_f1}) WARC -> text docs/s", parity(steps="a different extractor (cascade)")),
    ]
    save("bench_extract", [
        {"measure": measure, "gristmill": round(by[m]["docs_s"], 1), "peer": round(dt["docs_s"], 1),
         "ratio": round(by[m]["docs_s"] / dt["docs_s"], 2), "goal": None, "met": None, "load": by[m]["load"],
         "parity": par} for m, measure, par in entries])


if __name__ == "__main__":
    main()
