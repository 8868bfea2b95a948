from gristmill.stages.rephrase.chunking import chunk_spans, chunk_text

PARA = ("Rivers carry sediment from mountains to the sea. Along the way they cut valleys, build floodplains "
        "and leave deltas where they meet still water.")


def test_short_paragraphs_are_packed_up_to_the_limit(counter):
    text = "\n\n".join([PARA] * 6)
    chunks = chunk_text(text, counter, max_tokens=80, min_tokens=5)
    assert len(chunks) == 3  # two paragraphs (about 30 tokens each) fit in 80 tokens, three do not
    assert all(c == PARA + "\n\n" + PARA for c in chunks)  # the document's own layout
    assert [text[a:b] for a, b in chunk_spans(text, counter, 80, 5)] == chunks
    assert all(n <= 80 for n in counter.counts(chunks))


def test_a_long_paragraph_splits_at_sentences_and_a_long_sentence_at_tokens(counter):
    long_para = " ".join([PARA] * 8)
    chunks = chunk_text(long_para, counter, max_tokens=60, min_tokens=1)
    assert all(n <= 60 for n in counter.counts(chunks))
    assert all(c.endswith(".") for c in chunks)  # sentence boundaries
    assert " ".join(chunks).split() == long_para.split()  # nothing lost, nothing reordered
    run_on = "word " * 500
    pieces = chunk_text(run_on, counter, max_tokens=100, min_tokens=1)
    assert len(pieces) >= 5 and all(n <= 100 for n in counter.counts(pieces))
    assert " ".join(pieces).split() == run_on.split()


def test_small_scraps_and_empty_texts_give_no_chunks(counter):
    assert chunk_text("Too short.", counter, max_tokens=300, min_tokens=30) == []
    assert chunk_text("", counter) == [] and chunk_text(None, counter) == [] and chunk_text(" \n ", counter) == []
