"""Nothing changed without a record (issue 25.3): real messy documents go through every registered stage;
a stage either leaves `text` byte-identical or declares `rewrites_text` and, on every row it changed, fills one
of its `text_records` columns. A stage added to the registry is covered here automatically: it runs with its
default settings unless CONFIGS gives a cheaper real one, and is skipped only with a reason in SKIP."""
from __future__ import annotations

import inspect
import json

import pytest
from helpers import docs_df, run_stage

from gristmill.pipeline.stage import get_stage, known_stages

P = ("The mill was built in 1820 by the river bank, and it still stands today. Farmers brought their grain to "
     "it every autumn, and they paid the miller in flour. ")
MARKDOWN = ("# The old mill\n\n" + P + "\n" + P + "\n\n"
            "    for sack in sacks:\n        grind(sack)\n\n"
            "It ground wheat and rye for the whole valley until the year 1950, when it closed for good.\n"
            "Write to the miller at miller.jones@example.org about visits.\n")
MESSY = {
    "markdown": MARKDOWN,
    "python": inspect.getsource(json.dumps),  # real source: indentation, blank lines, docstring
    "crlf": (P + "\r\n" + P + "\r\n\r\nThe second paragraph says the same thing again, in other words.  \r\n"),
    "bom": "\ufeff" + P + "\n" + P,
    "persian": "می‌خواهم این متن را بخوانم. کتاب‌ها روی میز هستند و ما آن‌ها را می‌خوانیم.\n" * 3,
    "emoji": "Family 👨\u200d👩\u200d👧\u200d👦 and flags 🏳️\u200d🌈 and hands 👋🏽 are single glyphs. " * 4,
    "chinese": "磨坊建于一八二零年，位于河岸边。农民每年秋天都把粮食带到这里。\n这座磨坊一直运转到一九五零年。" * 3,
    "arabic": "بُنيت الطاحونة عام ١٨٢٠ على ضفة النهر. كان المزارعون يجلبون حبوبهم إليها كل خريف.\n" * 3,
    "rtl_marks": ("Price\u200f: 20 \u200eUSD\u200e for the sack, said the miller, and nobody argued with him. " * 3
                  + "\u202bembedded\u202c"),
    "controls": ("A line with a bell\x07 and a soft\u00adhyphen and NFD cafe\u0301 in it, plus "
                 "e\u0301te\u0301.\n") * 3,
}
ROWS = [{"id": k, "text": v, "source": "web" if i % 2 else "code", "url": f"https://example.org/{k}",
         "url_normalized": f"example.org/{k}", "domain": "web" if i % 2 else "code"}
        for i, (k, v) in enumerate(MESSY.items())]

# the cheapest real configuration of a stage whose defaults need something the test machine lacks
CONFIGS = {
    "datatrove": [{"step": "datatrove.pipeline.formatters.FTFYFormatter"}],
    "quality": [{}, {"rules": ["c4"]}, {"rules": ["c4"], "c4": {"output": "tfds"}}],
    "normalize": [{}, {"collapse_spaces": True, "keep_indent": False, "strip_joiners": True}],
    "dedup_lines": [{"min_docs": 2, "min_line_words": 0, "min_remaining_chars": 0, "min_remaining_fraction": 0}],
    "dedup_url": [{"date_column": None}],
    "mix": [{"vocab_size": 300, "heldout_fraction": 0.0}],
    "select": [{"selector": "facility_location", "budget": 0.5, "max_tokens": 32, "params": {"k": 2}}],
    "embed": [{"max_tokens": 32}],
    "pii": [{}, {"action": "mask"}],
    "decontaminate": [{"action": "cut"}],
    # the real default model (SmolLM2), one short generation: it adds synthetic rows; the originals must not change
    "rephrase": [{"styles": ["qa"], "sample": 1, "max_chunks": 1, "max_chunk_tokens": 60, "max_new_tokens": 16,
                  "batch_size": 1}],
}
SKIP: dict[str, str] = {}  # stage name -> why it cannot run here (none today)


def _cases():
    for name in known_stages():
        for i, params in enumerate(CONFIGS.get(name, [{}])):
            yield pytest.param(name, params, id=f"{name}-{i}")


@pytest.mark.parametrize("name,params", list(_cases()))
def test_no_text_changed_without_a_record(spark, tmp_path, name, params):
    if name in SKIP:
        pytest.skip(SKIP[name])
    cls = get_stage(name)
    kept, rejected, _ = run_stage(spark, name, params, docs_df(spark, ROWS), tmp_path)
    out = {r["id"]: r for r in kept + rejected if r["id"] in MESSY}
    assert set(out) == set(MESSY), f"{name} lost documents: {set(MESSY) - set(out)}"
    changed = [k for k, r in out.items() if r["text"] != MESSY[k]]
    if not cls.rewrites_text:
        assert not changed, f"{name} does not declare rewrites_text but changed {changed}"
        return
    assert cls.text_records, f"{name} rewrites text but names no record column"
    silent = [k for k in changed if all(out[k].get(c) in (None, 0, False, "", "[]") for c in cls.text_records)]
    assert not silent, f"{name} changed {silent} without a record in {cls.text_records}"
