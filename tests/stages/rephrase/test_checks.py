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
    assert reason("Library history. " * 50, tokens_out=400) == "too_long"
    assert reason("La biblioteca abrió en 1921.", lang_pair=("en", "es")) == "lang"
    assert reason(None, tokens_out=None, finish=None, error="APIConnectionError") == "error"


def test_checks_can_be_turned_off_for_the_published_behaviour():
    g = Generation("The library, founded in 1921, moved in", 80, 9, "length")
    assert judge(g, CHUNK, 40, INSTRUCTION, min_ratio=0, max_ratio=float("inf"), keep_truncated=True,
                 echo_similarity=1, lang_pair=None) is None
