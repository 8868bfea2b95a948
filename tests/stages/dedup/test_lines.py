"""dedup_lines on hand-written boilerplate plus the real CommonCrawl sample, through a real SparkSession."""
from __future__ import annotations

from helpers import run_stage

NAV = "Home | About us | Contact"
BODY = [
    "Our bakery opens at seven and the rye loaves sell out before nine on most Saturdays.",
    "The river trail was closed after the storm, but volunteers cleared the fallen trees by Sunday.",
    "Students presented their robotics projects to parents in the gym on Thursday evening.",
    "The orchestra will play Dvorak's ninth symphony at the town hall next month.",
]


def _hand_rows():
    rows = []
    for i, body in enumerate(BODY):
        rows.append({"id": f"h{i}", "source": "test",
                     "text": f"{NAV}\n\n{body}\n  copyright {2016 + i}  Example   Media\n{NAV}"})
    rows.append({"id": "hx", "source": "test", "text": f"{NAV}\nOk.\nCopyright 1999 Example Media"})
    rows.append({"id": "hy", "source": "test", "text": "A page that shares nothing with the others at all, "
                                                       "written about the weather in late October."})
    rows.append({"id": "hz", "source": "test", "text": None})
    return rows


def test_boilerplate_lines_removed_and_stats(spark, tmp_path):
    from helpers import python_env_docs
    web = python_env_docs()  # READMEs and licences repeat lines (badges, copyright and warranty lines)
    rows = _hand_rows() + web
    kept, rejected, stats = run_stage(spark, "dedup_lines", {"min_docs": 5, "min_remaining_chars": 20},
                                      rows, tmp_path)
    assert len(kept) + len(rejected) == len(rows)
    by_id = {r["id"]: r for r in kept + rejected}
    original = {r["id"]: r["text"] for r in rows}

    for i, body in enumerate(BODY):  # the nav line (twice) and the copyright line (years differ) go
        r = by_id[f"h{i}"]
        assert r["drop_reason"] is None and r["text"] == body
        assert r["lines_removed"] == 3
        assert r["chars_removed"] == len(original[f"h{i}"]) - len(body) - 1  # one blank line survives, trimmed
    # hx is mostly boilerplate: too little is left, so it is dropped with its original text
    assert by_id["hx"]["drop_reason"] == "dup:lines" and by_id["hx"]["text"] == original["hx"]
    assert by_id["hy"]["text"] == original["hy"] and by_id["hy"]["lines_removed"] == 0
    assert by_id["hz"]["text"] is None and by_id["hz"]["drop_reason"] is None

    # real pages: docs without repeated lines are untouched; removed lines were really repeated
    counts = [t["docs"] for t in stats["top_repeated"]]
    assert 0 < len(counts) <= 10 and counts == sorted(counts, reverse=True) and min(counts) >= 5
    changed = [r for r in kept + rejected if r["lines_removed"]]
    assert stats["docs_changed"] == len(changed)
    assert stats["lines_removed"] == sum(r["lines_removed"] for r in changed)
    assert stats["chars_removed"] == sum(r["chars_removed"] for r in changed)
    assert stats["repeated_lines"] >= 2
    for r in kept:
        if not r["lines_removed"]:
            assert r["text"] == original[r["id"]]
        else:
            assert len(r["text"]) < len(original[r["id"]])
    assert all(r["drop_reason"] == "dup:lines" for r in rejected)


C_FILE = """#include <stdio.h>

/* {name} */
int {name}_main(int argc, char **argv)
{{
    if (argc < 2) {{
        return 1;
    }}
    printf("%s\\n", argv[1]);
    return 0;
}}
"""


def test_code_and_titles_survive_default_settings(spark, tmp_path):
    """Issue 14: `}`, `return 0;` and section titles are not boilerplate; a menu repeated in 12 docs is."""
    import inspect
    import json as json_mod
    import string
    import textwrap
    nav = "Home | About us | Contact the editors | Privacy policy"
    names = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    rows = [{"id": f"c{i}", "text": C_FILE.format(name=names[i])} for i in range(12)]
    rows += [{"id": f"p{i}", "text": f"{nav}\nReferences\n" + inspect.getsource(m)}
             for i, m in enumerate([textwrap, string, json_mod] * 4)]
    kept, rejected, stats = run_stage(spark, "dedup_lines", {}, rows, tmp_path)
    by_id = {r["id"]: r for r in kept + rejected}
    for i in range(12):
        assert by_id[f"c{i}"]["text"] == C_FILE.format(name=names[i]) and by_id[f"c{i}"]["lines_removed"] == 0
        text = by_id[f"p{i}"]["text"]
        assert nav not in text and text.startswith("References\n")
        assert "        return text\n" in text or "return" in text  # short code lines stay
    compile(by_id["p0"]["text"].split("\n", 1)[1], "textwrap", "exec")


def test_tabs_and_carriage_returns_do_not_change_line_keys(spark, tmp_path):
    line = "Subscribe to our newsletter for weekly updates"
    variants = [line, f"\t{line}", f"{line}\r", f"  {line}\t\r", line.upper()]
    topics = ["gardening", "astronomy", "baking", "sailing", "chess"]
    rows = [{"id": f"d{i}", "text": f"{v}\nA body about {topics[i]} that no other document shares."}
            for i, v in enumerate(variants)]
    kept, rejected, stats = run_stage(spark, "dedup_lines", {"min_docs": 5, "min_remaining_chars": 10}, rows, tmp_path)
    assert stats["repeated_lines"] == 1
    assert all(r["lines_removed"] == 1 and r["text"].startswith("A body about") for r in kept) and len(kept) == 5
