"""Write configs/data/cc_sample.warc.gz: a small crawl-shaped WARC that configs/common_crawl.yaml reads.

The pages are the Python documentation's help topics (pydoc_data.topics, PSF licence, in every Python) laid
out like web pages (navigation, cookie banner, sidebar, footer around an <article>), with the things a real
crawl holds: the same URL fetched twice (an older and a newer copy), tracking parameters, a PDF and an image,
a 404 and a redirect, a page with no body, undeclared windows-1252, UTF-8 declared as latin-1, and pages too
short to keep. Deterministic: the same Python version writes the same bytes.

    python scripts/make_sample_warc.py [--out configs/data/cc_sample.warc.gz] [--pages 80]
"""
from __future__ import annotations

import argparse
import html
import io
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BOILER = """<header><a href="/">PyDocs Mirror</a> <nav><a href="/topics">Topics</a> | <a href="/about">About</a> |
<a href="/contact">Contact</a> | <a href="/login">Log in</a></nav></header>
<div class="cookie">We use cookies to improve your experience. <button>Accept all</button> <button>Settings</button></div>
<aside><h3>Popular topics</h3><ul><li><a href="/t/a">assignment</a></li><li><a href="/t/b">booleans</a></li>
<li><a href="/t/c">calls</a></li><li><a href="/t/d">dict</a></li></ul><p>Subscribe to our newsletter!</p></aside>"""
FOOTER = """<footer><p>Copyright 2001 Python Software Foundation. Mirror for testing. <a href="/privacy">Privacy</a>
 | <a href="/terms">Terms</a></p><p>Share: <a href="#">Twitter</a> <a href="#">Facebook</a></p></footer>"""


def page(title: str, body: str, charset: str | None = "utf-8", lang: str = "en") -> str:
    paras = [p.strip() for p in body.split("\n\n") if p.strip()]
    main = "\n".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in paras)
    meta = f'<meta charset="{charset}">' if charset else ""
    return (f'<!DOCTYPE html><html lang="{lang}"><head>{meta}<title>{html.escape(title)} - PyDocs Mirror</title>'
            f"</head><body>{BOILER}<main><article><h1>{html.escape(title)}</h1>\n{main}</article></main>"
            f"{FOOTER}</body></html>")


def build(out: Path, pages: int) -> int:
    from pydoc_data.topics import topics

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    count = 0

    def put(url, body: bytes, ctype="text/html; charset=utf-8", status="200 OK", date="2024-05-01T10:00:00Z"):
        nonlocal count
        headers = [("Content-Type", ctype)] if ctype else []
        http = StatusAndHeaders(status, headers + [("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        rec = w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                   warc_headers_dict={"WARC-Date": date})
        w.write_record(rec)
        count += 1

    names = sorted(k for k, v in topics.items() if len(v) > 1500)[:pages]
    base = "https://docs.example.org/topics/"
    for i, name in enumerate(names):
        text = topics[name]
        title = text.strip().splitlines()[0].strip() or name
        put(f"{base}{name}.html", page(title, text).encode("utf-8"))
        if i % 10 == 3:  # the same page fetched a month earlier, and once with tracking parameters
            put(f"{base}{name}.html", page(title, text[: len(text) // 2]).encode("utf-8"), date="2024-04-01T10:00:00Z")
            put(f"HTTPS://DOCS.example.org:443/topics/{name}.html?utm_source=news&utm_medium=mail#top",
                page(title, text).encode("utf-8"), date="2024-03-01T10:00:00Z")
    first = topics[names[0]]
    put("https://docs.example.org/legacy/cp1252.html",
        page("Windows-1252 page", first.replace("the", "thé"), charset=None).encode("cp1252", "replace"),
        ctype="text/html")
    put("https://docs.example.org/legacy/mislabelled.html",
        page("Mislabelled page", first.replace("the", "thé")).encode("utf-8"), ctype="text/html; charset=iso-8859-1")
    put("https://docs.example.org/short.html", page("Short", "Nothing here yet.").encode("utf-8"))
    put("https://docs.example.org/empty.html", b"")
    put("https://docs.example.org/manual.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        ctype="application/pdf")
    put("https://docs.example.org/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), ctype="image/png")
    put("https://docs.example.org/missing.html", b"<html><body>Not found</body></html>", status="404 Not Found")
    put("https://docs.example.org/old", b"", ctype=None, status="301 Moved Permanently")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "configs" / "data" / "cc_sample.warc.gz"))
    ap.add_argument("--pages", type=int, default=80)
    a = ap.parse_args()
    n = build(Path(a.out), a.pages)
    print(f"wrote {n} responses to {a.out} ({Path(a.out).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
