"""Each kind of bad answer gets its own reason (the stage test plants them through the cache too)."""
from gristmill.stages.rephrase.backends import Generation
from gristmill.stages.rephrase.checks import judge
from gristmill.stages.rephrase.prompts import wrap_style

CHUNK = ("The town library opened in 1921 with two thousand books donated by local families. It moved to a "
         "larger building in 1968 and now lends music and films as well as books.")
INSTRUCTION = wrap_style("medium").instruction()


def reason(text, tokens_out=30, finish="stop", error=None, lang_pair=None):
    return judge(Generation(text, 80, tokens_out, finish, error), CHUNK, 40, INSTRUCTION, min_ratio=0.2,
                 max_ratio=4.0, keep_truncated=False, echo_similarity=0.9, lang_pair=lang_pair)


def test_a_good_paraphrase_is_kept():
    assert reason("Founded in 1921 from two thousand donated volumes, the library relocated in 1968 and "
                  "today also lends recordings and films.") is None


def test_each_bad_answer_has_its_reason():
    assert reason("   ", tokens_out=1) == "empty"
    assert reason("I'm sorry, but I can't help with that request.") == "refusal"
    assert reason("As an AI language model, I cannot paraphrase this.") == "refusal"
    assert reason(CHUNK) == "echo"
    assert reason(INSTRUCTION + " The library opened in 1921.") == "echo"
    assert reason("The library, founded in 1921, moved in", finish="length") == "truncated"
    assert reason("A library.", tokens_out=3) == "too_short"
    assert reason(" ".join(f"volume{i}" for i in range(300)), tokens_out=400) == "too_long"
    assert reason("La biblioteca abrió en 1921.", lang_pair=("en", "es")) == "lang"
    assert reason(None, tokens_out=None, finish=None, error="APIConnectionError") == "error"


# SmolLM2-135M-Instruct's answer to a package summary on the quickstart corpus (greedy, WRAP's medium prompt):
# the paraphrase, then the same paraphrase again, then the end token, so neither `truncated` nor `too_long` saw it
LOOP_THAT_STOPPED = (
    "pyahocorasick is a fast and memory efficient library for exact or approximate multi-pattern string search. "
    "It is designed to find multiple key string occurrences at once in any input text. It supports multiple key "
    "string search and can be used as a plain dict-like Trie or converted to an automaton for efficient "
    "Aho-Corasick search.\n\n") * 2


def test_a_loop_is_rejected_even_when_it_stops_before_the_limit():
    """Gopher's repetition rule (Rae et al. 2021): a text whose paragraphs repeat is a loop, not a paraphrase."""
    assert reason(LOOP_THAT_STOPPED, tokens_out=120) == "repetition"
    assert reason("The cat sat on the mat. " * 12, tokens_out=80, finish="length") == "repetition"


def test_checks_can_be_turned_off_for_the_published_behaviour():
    g = Generation("The library, founded in 1921, moved in", 80, 9, "length")
    assert judge(g, CHUNK, 40, INSTRUCTION, min_ratio=0, max_ratio=float("inf"), keep_truncated=True,
                 echo_similarity=1, lang_pair=None) is None
    loop = Generation(LOOP_THAT_STOPPED, 80, 120, "stop")
    assert judge(loop, CHUNK, 40, INSTRUCTION, min_ratio=0, max_ratio=float("inf"), keep_truncated=True,
                 echo_similarity=1, lang_pair=None, check_repetition=False) is None


QA = wrap_style("qa")
# an answer in the qa form, and the kind a 135M model often gives instead: a plain paraphrase
QA_ANSWER = ("Question: When did the town library open?\nAnswer: In 1921, with two thousand donated books.\n\n"
             "Question: What does it lend now?\nAnswer: Music and films as well as books.")
NOT_QA = ("The town library opened in 1921 thanks to local families, moved in 1968 and today lends music and "
          "films too.")


def qa_reason(text, tags=QA.tags):
    return judge(Generation(text, 80, 40, "stop"), CHUNK, 40, QA.instruction(), min_ratio=0.2, max_ratio=4.0,
                 keep_truncated=False, echo_similarity=0.9, tags=tags)


def test_a_qa_answer_without_question_and_answer_tags_is_rejected():
    """WRAP's qa prompt asks for "Question:" followed by "Answer:"; a plain paraphrase is not that style."""
    assert QA.tags == ("Question:", "Answer:") and wrap_style("medium").tags == ()
    assert qa_reason(QA_ANSWER) is None
    assert qa_reason(QA_ANSWER.replace("Question:", "**Question:**").replace("Answer:", "**Answer:**")) is None
    assert qa_reason(NOT_QA) == "form"
    assert qa_reason("Answer: in 1921. Question: when did it open?") == "form"  # the tags out of order
    assert qa_reason(NOT_QA, tags=()) is None  # check_form: false, the published behaviour
    assert reason(NOT_QA) is None  # other styles ask for no form
