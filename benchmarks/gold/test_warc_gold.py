"""The second real crawl WARC (dolma_sample-0000, 22 responses), which stays in ../shared/data; its sibling
dolma_sample-0001 is committed and checked by tests/pipeline/inputs/test_warc.py on every clone."""
from collections import Counter

from gristmill.pipeline.config import InputConfig
from gristmill.pipeline.inputs.warc import iter_web


def test_real_common_crawl_style_warc(shared_data):
    path = shared_data / "web" / "warc" / "dolma_sample-0000.warc.gz"
    rows = list(iter_web(InputConfig(format="warc", path=str(path), on_error="reject"), str(path), path.name))
    assert len(rows) == 22 and Counter(r.get("drop_reason") for r in rows) == Counter({None: 22})
    assert all(r["url"].startswith("http") and "<" not in r["url"] for r in rows)
    assert all("<html" in r["text"].lower() for r in rows)
