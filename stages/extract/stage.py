"""extract: HTML in `text` -> main text in `text`, with title and language hints as columns.

Extractors and the papers behind them are in extractors.py. Settings:
- `trafilatura` (default, `extractors.DEFAULT`): the precise one, best on both gold sets; ~3.4x slower end to
  end than resiliparse (extractors.py's docstring has the figures);
- `resiliparse`: the fast one, lower precision on boilerplate; `justext`: NeMo Curator's default;
- `union`: paragraphs any of `union_of` keeps, in page order (arXiv 2602.19548), with `extract_sources`
  naming, per paragraph, the extractors that kept it;
- `cascade`: resiliparse first, trafilatura only where resiliparse is unsure (its main text is short, or it
  removed almost nothing from the page: `cascade_min_chars`, `cascade_max_ratio`); `extractor_used` says which.
See benchmarks/results/extract.md for F1, token yield and speed of each.

Every page runs in a child process with a time limit (sandbox.py). Rejections: `extract:empty` (no text),
`extract:too_short` (< min_chars), `extract:timeout`, `extract:error` (the extractor raised or its process
died; `extract_error` says how). Rows whose `content_type` is text/plain (WET records) pass through as they are.
"""
from __future__ import annotations

from functools import partial
from typing import Literal

import pyarrow as pa
from pydantic import Field

from gristmill.pipeline.stage import DROP_REASON, BatchStage, StageConfig

from . import extractors as ex
from .sandbox import Sandbox

Name = Literal["resiliparse", "trafilatura", "justext"]


class ExtractConfig(StageConfig):
    extractor: Literal["resiliparse", "trafilatura", "justext", "union", "cascade"] = ex.DEFAULT
    union_of: list[Name] = Field(["resiliparse", "trafilatura"], min_length=2,
                                 description="extractors whose paragraphs `union` keeps")
    trafilatura_options: dict = Field(default_factory=dict,
                                      description="keyword arguments for trafilatura.extract "
                                                  "(include_comments is False unless set)")
    cascade_min_chars: int = Field(250, ge=0, description="cascade: below this, resiliparse is unsure")
    cascade_max_ratio: float = Field(0.9, gt=0, le=1.0,
                                     description="cascade: resiliparse kept more than this share of the "
                                                 "page's visible text, so it probably kept boilerplate")
    min_chars: int = Field(50, ge=0, description="shorter extractions go to rejected as extract:too_short")
    time_limit_s: float = Field(5.0, gt=0, description="per page; slower pages are rejected as extract:timeout")
    keep_html: bool = Field(False, description="keep the page in an `html` column")


def extract_page(cfg: ExtractConfig, html: str) -> dict:
    """One page -> text, per-paragraph sources (union only), extractor used, title and language hints."""
    tree = ex.parse(html)
    info = ex.page_info(tree)
    lang = info["html_lang"] or info["meta_lang"]
    opts = {"tree": tree, "lang": lang, "options": cfg.trafilatura_options}
    sources = None
    used = cfg.extractor
    if cfg.extractor == "union":
        outputs = {name: ex.EXTRACTORS[name](html, **opts) for name in cfg.union_of}
        paras, sources = ex.union(outputs, ex.full_text(html, tree))
    elif cfg.extractor == "cascade":
        paras, used = ex.resiliparse(html, tree), "resiliparse"
        fast = sum(len(p) for p in paras)
        page = len(ex.norm(ex.full_text(html, tree)))
        if fast < cfg.cascade_min_chars or (page and fast / page > cfg.cascade_max_ratio):
            precise = ex.trafilatura(html, **opts)
            if precise:
                paras, used = precise, "trafilatura"
    else:
        paras = ex.EXTRACTORS[cfg.extractor](html, **opts)
    return {"text": "\n".join(paras), "sources": sources, "used": used, **info}


class Extract(BatchStage):
    name = "extract"
    Config = ExtractConfig
    requires = ("id", "text")
    rewrites_text = True  # HTML becomes its extracted text; extractor_used names what did it
    text_records = ("extractor_used",)
    produces = {"text": "string", "title": "string", "html_lang": "string", "meta_lang": "string",
                "extractor_used": "string", "extract_sources": "array<string>", "extract_error": "string"}

    def produced_columns(self) -> dict[str, str]:
        out = dict(self.produces)
        if self.config.keep_html:
            out["html"] = "string"
        return out

    def setup(self) -> None:
        fn = partial(extract_page, self.config)
        fn("<html><body><p>warm up</p></body></html>")  # imports happen here once, not in every forked child
        self.sandbox = Sandbox(fn, self.config.time_limit_s)

    def process_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cfg = self.config
        pages = batch.column("text").to_pylist()
        plain = (batch.column("content_type").to_pylist() if "content_type" in batch.schema.names
                 else [None] * len(pages))
        todo = [i for i, (p, ct) in enumerate(zip(pages, plain)) if p and p.strip() and ct != "text/plain"]
        cols = {k: [None] * len(pages) for k in ("text", "title", "html_lang", "meta_lang", "extractor_used",
                                                  "extract_sources", "extract_error", DROP_REASON)}
        for i, (p, ct) in enumerate(zip(pages, plain)):
            cols["text"][i] = p  # a blank page keeps its text (rejected as extract:empty); others are replaced
            if ct == "text/plain":
                cols["extractor_used"][i] = "none"
        results = self.sandbox.map([pages[i] for i in todo])
        for i, (status, value) in zip(todo, results):
            if status == "ok":
                cols["text"][i] = value["text"]
                cols["title"][i], cols["html_lang"][i] = value["title"], value["html_lang"]
                cols["meta_lang"][i], cols["extractor_used"][i] = value["meta_lang"], value["used"]
                cols["extract_sources"][i] = value["sources"]
            elif status == "timeout":  # the page stays in `text`, so rejected/ shows what stalled
                cols["text"][i], cols[DROP_REASON][i] = pages[i], "extract:timeout"
                cols["extract_error"][i] = f"extraction took longer than time_limit_s={cfg.time_limit_s}"
            else:
                cols["text"][i], cols[DROP_REASON][i], cols["extract_error"][i] = pages[i], "extract:error", value
        for i, text in enumerate(cols["text"]):
            if cols[DROP_REASON][i] is None:
                n = len(text.strip()) if text else 0
                if n == 0:
                    cols[DROP_REASON][i] = "extract:empty"
                elif n < cfg.min_chars:
                    cols[DROP_REASON][i] = "extract:too_short"
        if cfg.keep_html:
            cols["html"] = pages
        return self.emit(batch, cols)
