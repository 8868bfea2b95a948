"""The report page: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched)."""
from __future__ import annotations

from html import escape

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2430;
       background: #f6f7f9; }
header { background: #1d2430; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9d1dc; font-size: 13px; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 32px 48px; }
section { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: 14px 20px; margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; max-width: 100%; }
td { overflow-wrap: break-word; }
section { overflow-x: auto; }
th, td { border-bottom: 1px solid #e6e9ee; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fff4e0; border-color: #f0c060; }
.note { color: #5a6472; font-size: 12px; }
svg { max-width: 100%; height: auto; }
code, pre { font: 12px ui-monospace, Menlo, Consolas, monospace; }
pre { background: #f3f5f8; padding: 8px; overflow-x: auto; max-height: 320px; }
nav a { margin-right: 12px; font-size: 13px; }
"""


def table(headers: list[str], rows: list[list]) -> str:
    def td(v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return f'<td class="n">{v:,}</td>' if isinstance(v, int) else f'<td class="n">{v:.4g}</td>'
        return f"<td>{escape('-' if v is None else str(v))}</td>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(td(v) for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """sections: (title, html body, css class)."""
    nav = " ".join(f'<a href="#{slug(t)}">{escape(t)}</a>' for t, _, _ in sections)
    body = "\n".join(f'<section id="{slug(t)}" class="{cls}"><h2>{escape(t)}</h2>\n{html}\n</section>'
                     for t, html, cls in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,">'  # no favicon request
            '<link rel="icon" href="data:,">'  # stops the browser asking a server for /favicon.ico
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body><header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>\n"
            f"<main><nav>{nav}</nav>\n{body}\n</main></body></html>\n")
