"""Main-text extractors over one HTML string, and the union of several in document order.

- resiliparse (Bevendorff et al., "Resiliparse", ChatNoir/ECIR 2018 & the DCLM/Dolma pipelines):
  `extract_plain_text(main_content=True)`, a fast rule-based boilerplate remover.
- trafilatura (Barbaresi, ACL 2021 demos, "Trafilatura: A Web Scraping Library and Command-Line Tool for
  Text Discovery and Extraction"): `extract(include_comments=False)`; options pass through.
- justext (Pomikálek, PhD thesis 2011, "Removing Boilerplate and Duplicate Content from Web Corpora"):
  paragraph classification with the stop-word list of the page's declared language (English when the page
  declares none, or one justext has no list for), as NeMo Curator uses it.
- union (arXiv 2602.19548, "the union of several extractors' outputs"): every paragraph any listed extractor
  keeps, in the page's order, with the extractors that kept it. Order comes from where each paragraph sits in
  the page's full visible text; a paragraph contained in a longer kept one is folded into it.

The default (`DEFAULT`) is trafilatura, as published (its fallback extractors on): on both gold sets of
benchmarks/bench_extract.py it scores above every faster choice (shingle F1 on the 181 scrapinghub
articles / snippet F1 on trafilatura's 250 pages: trafilatura 0.951 / 0.910; resiliparse 0.898 / 0.846;
the cascade 0.900 / 0.865; the best cascade thresholds 0.936 / 0.902 with 76% of pages sent to
trafilatura; trafilatura with `no_fallback` 0.952 / 0.897). What it costs: WARC -> text on one core ran
25 pages/s against resiliparse's 85 (3.4x slower; datatrove's Trafilatura step 23), see
benchmarks/results/extract.md. `extractor: resiliparse` is the fast choice when precision on boilerplate
matters less than speed.
"""
from __future__ import annotations

import re
from typing import Callable

_WS = re.compile(r"\s+")
_JUSTEXT_LISTS = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ru": "Russian", "pl": "Polish", "sv": "Swedish", "da": "Danish", "no": "Norwegian_Bokmal",
    "nb": "Norwegian_Bokmal", "nn": "Norwegian_Nynorsk", "fi": "Finnish", "cs": "Czech", "sk": "Slovak",
    "tr": "Turkish", "id": "Indonesian", "ms": "Malay", "uk": "Ukrainian", "hu": "Hungarian", "ro": "Romanian",
    "el": "Greek", "bg": "Bulgarian", "hr": "Croatian", "sr": "Serbian", "sl": "Slovenian", "ca": "Catalan",
    "lt": "Lithuanian", "lv": "Latvian", "et": "Estonian", "vi": "Vietnamese", "ar": "Arabic", "fa": "Persian",
    "he": "Hebrew", "hi": "Hindi", "ko": "Korean", "eu": "Basque", "gl": "Galician", "is": "Icelandic",
}


def norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def paragraphs(text: str | None) -> list[str]:
    """
    >>> paragraphs(" a  b \\n\\n\\n c\\n")
    ['a  b', 'c']
    """
    return [p.strip() for p in (text or "").split("\n") if p.strip()]


def parse(html: str):
    from resiliparse.parse.html import HTMLTree
    return HTMLTree.parse(html)


def page_info(tree) -> dict:
    """Title, <html lang> and the language a <meta> declares (http-equiv content-language, og:locale)."""
    info = {"title": None, "html_lang": None, "meta_lang": None}
    try:
        info["title"] = norm(tree.title or "") or None
        root = tree.document.query_selector("html")
        if root is not None:
            info["html_lang"] = (root.getattr("lang") or root.getattr("xml:lang") or "").strip() or None
        head = tree.head
        for m in (head.query_selector_all("meta") if head is not None else []):
            key = (m.getattr("http-equiv") or m.getattr("name") or m.getattr("property") or "").lower()
            if key in ("content-language", "language", "og:locale", "dc.language"):
                info["meta_lang"] = (m.getattr("content") or "").strip() or None
                if info["meta_lang"]:
                    break
    except Exception:  # a tree too broken to query keeps what was found
        pass
    return info


def resiliparse(html: str, tree=None, **_) -> list[str]:
    from resiliparse.extract.html2text import extract_plain_text
    return paragraphs(extract_plain_text(tree if tree is not None else parse(html), main_content=True))


def full_text(html: str, tree=None) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    return extract_plain_text(tree if tree is not None else parse(html), main_content=False)


DEFAULT = "trafilatura"
TRAFILATURA_DEFAULTS = {"include_comments": False}  # main text only; the fallbacks stay on, as published


def trafilatura(html: str, options: dict | None = None, **_) -> list[str]:
    import trafilatura as tf
    opts = {**TRAFILATURA_DEFAULTS, **(options or {})}
    return paragraphs(tf.extract(html, **opts))


def justext(html: str, lang: str | None = None, **_) -> list[str]:
    import justext as jt
    code = (lang or "en").lower().replace("_", "-").split("-")[0]
    stoplist = jt.get_stoplist(_JUSTEXT_LISTS.get(code, "English"))
    return [p.text.strip() for p in jt.justext(html, stoplist) if not p.is_boilerplate and p.text.strip()]


EXTRACTORS: dict[str, Callable[..., list[str]]] = {
    "resiliparse": resiliparse, "trafilatura": trafilatura, "justext": justext}


def union(outputs: dict[str, list[str]], reference: str) -> tuple[list[str], list[str]]:
    """Paragraphs any extractor kept, in page order, and for each the extractors that kept it (`a+b`).

    >>> union({"a": ["one two", "four"], "b": ["one two", "three"]}, "one two three four")
    (['one two', 'three', 'four'], ['a+b', 'b', 'a'])
    >>> union({"a": ["x y z"], "b": ["y"]}, "x y z")
    (['x y z'], ['a+b'])
    """
    ref = norm(reference)
    items: dict[str, list] = {}  # normalized paragraph -> [start, end, seq, text, extractors]
    seq = 0
    for name, paras in outputs.items():
        cursor = 0
        for p in paras:
            key = norm(p)
            if not key:
                continue
            if key in items:
                items[key][4].add(name)
                cursor = max(cursor, items[key][0])
                continue
            at = ref.find(key, cursor)
            if at < 0:
                at = ref.find(key)
            found = at >= 0
            if found:
                cursor = at
            else:
                at = cursor  # not in the visible text (an extractor rewrote it): keep it after its predecessor
            items[key] = [at, at + len(key) if found else -1, seq, p, {name}]
            seq += 1
    ordered = sorted(items.values(), key=lambda it: (it[0], -(it[1] - it[0]), it[2]))
    kept: list[list] = []
    cover = None  # the kept paragraph with the furthest end so far
    for it in ordered:
        if it[1] >= 0 and cover is not None and it[1] <= cover[1]:
            cover[4] |= it[4]  # contained in a longer kept paragraph
            continue
        kept.append(it)
        if it[1] >= 0 and (cover is None or it[1] > cover[1]):
            cover = it
    return [it[3] for it in kept], ["+".join(sorted(it[4])) for it in kept]
