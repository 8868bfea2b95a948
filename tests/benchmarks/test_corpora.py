"""benchmarks/corpora.py: distinct documents only, cut at blank lines, provenance in the manifest, rebuilt
when an input changes. Runs on a folder of real texts from this Python install (its licence and docs)."""
from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import corpora  # noqa: E402


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A small 'machine': the stdlib's own text files, copied twice (exact duplicates must go) into two roots."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))[:15]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(corpora, "roots", lambda: [("copy-a", tmp_path / "a"), ("copy-b", tmp_path / "b")])
    monkeypatch.setattr(corpora, "SHARED", tmp_path / "no-shared")
    monkeypatch.setattr(corpora, "CACHE", tmp_path / "cache")
    return tmp_path


def test_documents_are_distinct_and_have_provenance(machine):
    from collections import Counter
    everything = sum(1 for _ in corpora.iter_documents(corpora.input_files(), Counter(), Counter()))
    folder = corpora.build(everything)  # every file visited, both copies
    docs = corpora.read_docs(folder)
    assert len(docs) == everything == len({d["text"] for d in docs})
    assert all(corpora.token_count(d["text"]) >= corpora.MIN_WORDS for d in docs)
    assert all(len(d["text"]) <= 4 * corpora.PIECE_MAX for d in docs)
    m = json.loads((folder / "manifest.json").read_text())
    assert sum(m["documents_by_source"].values()) == everything
    # the second copy of a file cuts the same way: its pieces are exact duplicates (the build stops at its last
    # distinct piece, so a few copies after it are never read)
    assert m["dropped"]["pieces exact duplicates"] > everything // 2
    for d in docs[:20]:  # each piece is verbatim text of the file it names
        path = d["origin"].split("#")[0]
        assert d["text"] in Path(path).read_text(encoding="utf-8")


def test_too_few_documents_is_an_error_not_repetition(machine):
    with pytest.raises(SystemExit, match="distinct documents"):
        corpora.build(10_000_000)


def test_a_changed_input_rebuilds(machine):
    folder = corpora.build(50)
    before = corpora.version(folder)
    assert corpora.build(50) == folder and corpora.version(folder) == before  # reused while nothing changed
    victim = next((machine / "a").glob("*.py"))
    victim.write_text(victim.read_text() + "\n\n# one more paragraph, written after the first build\n")
    assert corpora.version(corpora.build(50)) != before


def test_an_archive_is_read_member_by_member(machine, monkeypatch):
    """A source archive (a JDK's src.zip) counts like a folder: its text members are texts, its binary and
    unwanted members are not; the same files as a folder and as a zip give the same documents."""
    import zipfile
    from collections import Counter
    archive = machine / "src.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted((machine / "a").iterdir()):
            z.write(f, f"pkg/{f.name}")
        z.writestr("pkg/Blob.py", b"\x00\x01 binary")
        z.writestr("pkg/image.png", b"not text")
    monkeypatch.setattr(corpora, "roots", lambda: [("zip", archive)])
    from_zip = [d["text"] for d in corpora.iter_documents(corpora.input_files(), Counter(), Counter())]
    monkeypatch.setattr(corpora, "roots", lambda: [("copy-a", machine / "a")])
    from_folder = [d["text"] for d in corpora.iter_documents(corpora.input_files(), Counter(), Counter())]
    assert from_zip and sorted(from_zip) == sorted(from_folder)
