#!/usr/bin/env python3
"""Write the README's stage table from the stages themselves: name, what it does (docstring), settings with
defaults and help (the pydantic Config), and the drop reasons it can write.

Drop reasons come from a stage's `drop_reasons` attribute when it declares one, else from the reason strings
("prefix:detail") in the source of its module and the modules beside it in its package (the quality rules
live in rules.py). `--check` exits 1 when README.md differs from what this would write (a test runs it).

    .venv/bin/python scripts/stage_table.py          # rewrite the table between the markers in README.md
    .venv/bin/python scripts/stage_table.py --check
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- stage-table:begin (scripts/stage_table.py writes this) -->", "<!-- stage-table:end -->"
REASON = re.compile(r"^[a-z][a-z0-9_]*:[a-z<][a-z0-9_<>]*$")


def _template(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values)


def _name(node) -> str | None:
    """A check's name: "too_few_words", or f"dup_{n}gram" as dup_<n>gram."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"[a-z][a-z0-9_]*", node.value):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return re.sub(r"\{(\w+)\}", r"<\1>", _template(node))
    return None


def _strings(path: Path) -> list[str]:
    """String constants in a Python file, and reason templates expanded where the file says what fills them:
    `f"gopher:{name}"` inside a function whose checks are `("too_few_words", cond)` pairs gives
    gopher:too_few_words, ...; otherwise the template itself ('select:<selector>')."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Module))):
        firsts = [t.elts[0] for t in ast.walk(fn) if isinstance(t, ast.Tuple) and len(t.elts) in (2, 3)]
        names = [_name(e) for e in firsts if _name(e)]
        # (k.removeprefix("gopher_"), ...) for k in a dict of signals: the names are those keys, unprefixed
        for e in firsts:
            if (isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "removeprefix"
                    and e.args and isinstance(e.args[0], ast.Constant)):
                pre = e.args[0].value
                names += [k.value.removeprefix(pre) for d in ast.walk(fn) if isinstance(d, ast.Dict)
                          for k in d.keys if isinstance(k, ast.Constant) and str(k.value).startswith(pre)]
        # first_failure("gopher", checks, n) inside a function whose checks are ("name", ...) tuples
        for call in (c for c in ast.walk(fn) if isinstance(c, ast.Call) and isinstance(fn, ast.FunctionDef)):
            if (getattr(call.func, "id", None) == "first_failure" and call.args
                    and isinstance(call.args[0], ast.Constant) and names):
                out += [f"{call.args[0].value}:{n}" for n in names]
        for node in (n for n in ast.walk(fn) if isinstance(n, ast.JoinedStr)):
            text = _template(node)
            m = re.fullmatch(r"([a-z][a-z0-9_]*):\{(\w+)\}", text)
            if m and isinstance(fn, ast.FunctionDef) and names:
                out += [f"{m.group(1)}:{n}" for n in names]
            elif m:
                out.append(f"{m.group(1)}:<{m.group(2)}>")
            else:
                out.append(re.sub(r"\{(?:[\w.]*\.)?(\w+)\}", r"<\1>", text))
    return out


def drop_reasons(cls) -> list[str]:
    declared = getattr(cls, "drop_reasons", None)
    if declared:
        return sorted(declared)
    from gristmill.pipeline.stage import get_stage, known_stages
    path = Path(inspect.getfile(cls))
    stage_files = {Path(inspect.getfile(get_stage(n))) for n in known_stages()}
    # helpers beside a stage in its own package that it imports (quality/rules.py), not the other stages
    imported = {n.module for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(n, ast.ImportFrom) and n.module and n.level == 1}
    files = [path] + sorted(p for p in path.parent.glob("*.py") if p not in stage_files and p.stem in imported)
    found = {s for f in files for s in _strings(f) if REASON.match(s)}
    # a template like gopher:<name> is only shown where no check names fill it
    return sorted(r for r in found if not (r.endswith(":<name>") and
                                           any(o.startswith(r[:-6]) and o != r for o in found)))


def _default(field) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "…"
    else:
        value = field.default
    if field.is_required():
        return "required"
    if hasattr(value, "model_dump"):
        return "{…}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def settings(cls) -> list[str]:
    out = []
    for name, field in cls.Config.model_fields.items():
        key = field.alias or name
        help_ = f": {field.description}" if field.description else ""
        out.append(f"`{key}`={_default(field)}{help_}")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table() -> str:
    from gristmill.pipeline.stage import get_stage, known_stages
    rows = ["| stage | what it does | settings (default: meaning) | drop reasons |", "| --- | --- | --- | --- |"]
    for name in known_stages():
        cls = get_stage(name)
        doc = inspect.getdoc(importlib.import_module(cls.__module__)) or inspect.getdoc(cls) or ""
        summary = doc.split("\n\n")[0].replace("\n", " ")
        summary = summary.split(": ", 1)[1] if summary.startswith(f"{name}: ") else summary
        module = cls.__module__.replace("gristmill.", "").replace(".", "/") + ".py"
        reasons = ", ".join(f"`{r}`" for r in drop_reasons(cls)) or "(tags only)"
        rows.append(f"| **`{name}`** ([{module}]({module})) | {_cell(summary)} | "
                    f"{_cell('<br>'.join(settings(cls)))} | {_cell(reasons)} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = ap.parse_args()
    path = REPO / "README.md"
    old = path.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        if new != old:
            print("README.md's stage table is out of date: run .venv/bin/python scripts/stage_table.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != old:
        path.write_text(new, encoding="utf-8")
        print("README.md: stage table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
