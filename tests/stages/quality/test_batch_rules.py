"""The batch rule sets (one word split, numpy over the batch's tokens) against references written from the
definitions, one document at a time with plain Python: Gopher's repetition fractions (Rae et al. 2021, A.1.1:
"the fraction of characters contained within the most frequently occurring n-gram" for n = 2..4, and "the
fraction of characters contained within all duplicate n-grams" for n = 5..10), datatrove's variants of both,
and the Gopher quality counts. Documents are batched together, so an n-gram never reaches across documents."""
from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest
from helpers import TEST_DATA

from gristmill.stages.quality.rules import (
    Batch,
    GopherQualityConfig,
    GopherRepetitionConfig,
    gopher_quality_batch,
    gopher_repetition_batch,
    is_symbol,
    split_words,
)


def ref_top(words: list[str], n: int, text_len: int | None) -> float:
    """Most frequent n-gram's characters (all occurrences) over the word characters (paper) or, datatrove's
    way, its space-joined length times its count over the text's length; ties go to the first n-gram seen
    (Counter.most_common)."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    gram, count = Counter(grams).most_common(1)[0]
    if text_len is None:
        total = sum(map(len, words))
        return sum(map(len, gram)) * count / total if total else 0.0
    return (len(" ".join(gram)) * count) / text_len if text_len else 0.0


def ref_dup_paper(words: list[str], n: int) -> float:
    """Characters of the words inside any n-gram that occurs more than once, each word once."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered[i:i + n] = [True] * n
    total = sum(map(len, words))
    return sum(len(w) for w, c in zip(words, covered) if c) / total if total and grams else 0.0


def ref_dup_datatrove(words: list[str], n: int, text_len: int) -> float:
    """datatrove's scan: an n-gram seen before adds its characters and the scan jumps past it."""
    seen, total, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = tuple(words[i:i + n])
        if gram in seen:
            total += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return total / text_len if text_len else 0.0


@pytest.fixture(scope="module")
def pages() -> list[str]:
    texts = []
    for name in ("dolma_ccnet_en_head_30docs.jsonl.gz", "datajuicer_redpajama_cc_c4_20docs.jsonl.gz"):
        with gzip.open(TEST_DATA / "web" / name, "rt") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    # hand-written: repeats at a document's end and the next one's start, ties, too few words, empty
    texts += ["a b c d e f a b c d e f", "a b c d e f", "x y x y x y", "one two", "", "the the the the",
              "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu alpha beta gamma delta epsilon "
              "zeta eta theta iota kappa", "short one\nshort one\nshort one"]
    return texts


@pytest.mark.parametrize("compat", [False, True])
def test_repetition_fractions_match_the_definitions(pages, compat):
    cfg = GopherRepetitionConfig(datatrove_compat=compat)
    signals, _ = gopher_repetition_batch(Batch(pages), cfg)
    repeated = 0
    for i, text in enumerate(pages):
        words = split_words(text)
        for n, _ in cfg.top_ngrams:
            want = ref_top(words, n, len(text) if compat else None)
            assert signals[f"gopher_top_{n}gram_char_frac"][i] == pytest.approx(want), (i, n)
        for n, _ in cfg.dup_ngrams:
            want = ref_dup_datatrove(words, n, len(text)) if compat else ref_dup_paper(words, n)
            assert signals[f"gopher_dup_{n}gram_char_frac"][i] == pytest.approx(want), (i, n)
            repeated += want > 0
    assert repeated > 20  # the pages do repeat n-grams


def test_a_document_alone_or_in_a_batch_scores_the_same(pages):
    cfg = GopherRepetitionConfig(datatrove_compat=True)
    together, reasons = gopher_repetition_batch(Batch(pages), cfg)
    for i in (0, 10, len(pages) - 8, len(pages) - 7):
        alone, reason = gopher_repetition_batch(Batch([pages[i]]), cfg)
        assert {k: v[0] for k, v in alone.items()} == {k: v[i] for k, v in together.items()}
        assert reason[0] == reasons[i]


def test_gopher_quality_counts_match_the_definitions(pages):
    signals, _ = gopher_quality_batch(Batch(pages), GopherQualityConfig())
    for i, text in enumerate(pages):
        words = [w for w in split_words(text) if not is_symbol(w)]
        assert signals["gopher_word_count"][i] == len(words)
        mean = sum(map(len, words)) / len(words) if words else 0.0
        assert signals["gopher_mean_word_length"][i] == pytest.approx(mean)
        stops = {w for w in words if w in {"the", "be", "to", "of", "and", "that", "have", "with"}}
        assert signals["gopher_stop_words"][i] == len(stops)


def test_a_batch_scored_in_parts_gives_the_same_result(pages, monkeypatch):
    import numpy as np

    from gristmill.stages.quality import stage
    scorer = stage.QualityScorer(stage.QualityConfig())
    whole = scorer.score_and_clean(pages)
    monkeypatch.setattr(stage, "CHUNK_CHARS", 3000)  # several parts, some of one long page
    parts = scorer.score_and_clean(pages)
    assert parts[1] == whole[1] and parts[2] == whole[2]
    assert all(np.array_equal(parts[0][k], whole[0][k]) for k in whole[0])
