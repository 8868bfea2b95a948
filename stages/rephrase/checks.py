"""Deciding whether a generated rephrase is usable: one reason per bad answer, None for a good one.

WRAP itself filters nothing after generation (the paper trusts Mistral-7B); small models and unattended
endpoints produce empty answers, refusals, copies of the prompt, answers cut mid-sentence by the token limit,
and answers in another language. Each such answer becomes a rejected row `rephrase:<reason>`, so it can be
counted and looked at, instead of entering the mixture. Every check has a setting to turn it off (all off is
WRAP's published behaviour).

Why the defaults stay on although WRAP keeps everything: on the quickstart corpus SmolLM2-135M-Instruct at
max_new_tokens 256 hit the limit in 6 of 8 answers, and each of those was the chunk copied and then copied
again until the limit (a loop, not a long paraphrase). WRAP's 7B model does not loop like that; a small model
does, and a looped copy is a duplicate of its parent, which dedup upstream just removed.

A loop that ends before the token limit (a paraphrase, then the same paraphrase again, then the end token)
escaped those checks, so answers also go through Gopher's repetition rule (Rae et al. 2021, Table A1), the parts
of it that measure repeated text, at the paper's thresholds: the characters in repeated lines and paragraphs and
in repeated 5- to 10-grams: `rephrase:repetition`. We leave out Gopher's count-based fractions (repeated lines or
paragraphs over all of them: WRAP's qa style asks for "Question:" and "Answer:" tags, which a good answer repeats
on lines of their own) and its top-2-4-gram fractions (the paper applies them to documents of 50 words or more;
in a 20-word paraphrase the most frequent 4-gram, met once, already covers 16% of the characters).
`check_repetition: false` turns the check off.

A style can ask for a form: WRAP's qa instruction asks for "Question:" and "Answer:" tags. A small model often
answers it with a plain paraphrase (or a list) instead; that is the medium style's row under the qa style's name,
and a mixture that counts qa tokens would count it wrongly. An answer without the style's tags, in order (any
case, markdown around them allowed), is rejected as `rephrase:form`; `check_form: false` keeps it.
"""
from __future__ import annotations

import difflib
import re

from ..quality.rules import Doc, GopherRepetitionConfig, gopher_repetition
from .backends import Generation

# Refusals open the answer; a paraphrase of a text that mentions an apology does not start with one.
_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i|i apologi[sz]e|i (cannot|can't|can not|won't|am unable|'m unable)"
    r"|as an ai\b|as a language model|i'm not able|i am not able)", re.IGNORECASE)
_WORDS = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def echoes(answer: str, chunk: str, instruction: str, threshold: float) -> bool:
    """The answer repeats the instruction, or is (nearly) the chunk itself.

    >>> echoes("For the following paragraph give me a paraphrase of the same: the cat", "the cat sat",
    ...        "For the following paragraph give me a paraphrase of the same", 0.9)
    True
    >>> echoes("A cat was sitting on the mat.", "The cat sat on the mat.", "Rephrase:", 0.9)
    False
    """
    ins = words(instruction)[:12]
    if len(ins) >= 4 and " ".join(ins) in " ".join(words(answer)):
        return True
    a, c = words(answer), words(chunk)
    if not a or not c:
        return False
    return difflib.SequenceMatcher(None, a, c, autojunk=False).ratio() >= threshold


# Gopher's thresholds on repeated text only (see the module docstring)
_LOOP = GopherRepetitionConfig(dup_para_frac=None, dup_line_frac=None, top_ngrams=[])


def loops(answer: str) -> bool:
    """The answer repeats itself past Gopher's repetition thresholds: a small model's loop.

    >>> loops("The cat sat on the mat. " * 6)
    True
    >>> loops("Question: Who opened the library in 1921?\\nAnswer: Local families, with two thousand books."
    ...       "\\n\\nQuestion: When did it move?\\nAnswer: It moved to a larger building in 1968.")
    False
    """
    return gopher_repetition(Doc(answer), _LOOP)[1] is not None


def has_form(answer: str, tags: tuple[str, ...]) -> bool:
    """The answer carries every tag, each after the one before it (case aside).

    >>> has_form("**Question:** Who opened it?\\n**Answer:** Local families.", ("Question:", "Answer:"))
    True
    >>> has_form("The library opened in 1921 and moved in 1968.", ("Question:", "Answer:"))
    False
    >>> has_form("Answer: 1921. Question: when?", ("Question:", "Answer:"))
    False
    """
    low, at = answer.lower(), 0
    for tag in tags:
        at = low.find(tag.lower(), at)
        if at < 0:
            return False
        at += len(tag)
    return True


def judge(gen: Generation, chunk: str, chunk_tokens: int, instruction: str, *, min_ratio: float,
          max_ratio: float, keep_truncated: bool, echo_similarity: float,
          lang_pair: tuple[str, str] | None = None, check_repetition: bool = True,
          tags: tuple[str, ...] = ()) -> str | None:
    """The reason an answer is rejected, checked in this order, or None to keep it.

    tags: the labels the style asks for (empty: no form check); lang_pair is (language of the chunk, language
    of the answer) from the LID model, when it is on."""
    if gen.error is not None:
        return "error"
    text = (gen.text or "").strip()
    if not text:
        return "empty"
    if _REFUSAL.match(text):
        return "refusal"
    if echo_similarity < 1 and echoes(text, chunk, instruction, echo_similarity):
        return "echo"
    if check_repetition and loops(text):
        return "repetition"
    if tags and not has_form(text, tags):
        return "form"
    if gen.finish_reason == "length" and not keep_truncated:
        return "truncated"
    ratio = (gen.tokens_out or 0) / max(chunk_tokens, 1)
    if ratio < min_ratio:
        return "too_short"
    if ratio > max_ratio:
        return "too_long"
    if lang_pair is not None and lang_pair[0] != lang_pair[1]:
        return "lang"
    return None
