"""normalize keeps what carries meaning (issue 13, item 3): indentation, tabs, joiners, variation selectors."""
import inspect
import textwrap
import unicodedata

from gristmill.stages.normalize import NormalizeConfig, normalize_text


def test_stdlib_code_survives_unchanged():
    for mod in (textwrap, inspect):
        src = inspect.getsource(mod)
        out = normalize_text(src)
        want = "\n".join(line.rstrip(" \t") for line in src.split("\n")).strip("\n")
        assert out == want, mod.__name__
        compile(out, mod.__name__, "exec")  # still Python
    out = normalize_text("def f(x):\r\n    if x:\r\n\treturn x\r\n")
    assert out == "def f(x):\n    if x:\n\treturn x"


def test_tabs_inside_lines_and_first_line_indent_kept():
    assert normalize_text("a\tb\t\tc  \n") == "a\tb\t\tc"
    assert normalize_text("\n\n    indented first line\n") == "    indented first line"


def test_persian_hindi_arabic_and_emoji_keep_their_joiners():
    persian = "می\u200cخواهم به خانه بروم"  # ZWNJ inside the word "I want"
    hindi = "क्\u200dष और स्\u200dत्री"  # ZWJ requesting half-forms in conjuncts
    arabic = "السَّلَامُ عَلَيْكُمْ"  # harakat: NFC leaves the combining marks in order
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"
    heart = "\u2764\ufe0f and \u0031\ufe0f\u20e3"  # variation selector 16, keycap
    for text in (persian, hindi, arabic, family, heart):
        assert normalize_text(text) == unicodedata.normalize("NFC", text)
    assert "\u200c" in normalize_text(persian) and normalize_text(family).count("\u200d") == 3


def test_invisible_and_meaningless_removed():
    assert normalize_text("\ufeffhe\u200bllo\x00 wo\u00adrld\x07") == "hello world"
    assert normalize_text("co\u00adoperate", NormalizeConfig(strip_soft_hyphen=False)) == "co\u00adoperate"
    assert normalize_text("a\r\nb\rc\x85d") == "a\nb\nc\nd"
    assert normalize_text("a\n\n\n\n\nb") == "a\n\n\nb"  # two blank lines kept (PEP 8 spacing)


def test_old_lossy_behaviour_is_a_setting():
    old = NormalizeConfig(collapse_spaces=True, keep_indent=False, strip_joiners=True, max_blank_lines=1)
    assert normalize_text("def f(x):\n    if  x:", old) == "def f(x):\nif x:"
    assert normalize_text("می\u200cخواهم", old) == "میخواهم"
    kept = NormalizeConfig(collapse_spaces=True)
    assert normalize_text("    x  =   1", kept) == "    x = 1"


def test_stage_on_spark(spark, tmp_path):
    from helpers import run_stage
    kept, rej, _ = run_stage(spark, "normalize", {}, [{"id": "a", "text": "def f():\r\n    return 1  "},
                                                      {"id": "b", "text": None}], tmp_path)
    assert {r["id"]: r["text"] for r in kept} == {"a": "def f():\n    return 1", "b": None} and rej == []


def test_each_change_is_counted_per_document(spark, tmp_path):
    import json

    from helpers import run_stage
    rows = [{"id": "crlf", "text": "one  \r\ntwo\r\n"},
            {"id": "bell", "text": "\ufeffCafe\u0301 ring\x07\x07"},
            {"id": "same", "text": "already clean\n\n    indented"}]
    kept, _, _ = run_stage(spark, "normalize", {}, rows, tmp_path)
    by_id = {r["id"]: r for r in kept}
    assert json.loads(by_id["crlf"]["normalize_edits"]) == {"line_endings": 2, "trailing_spaces": 1, "edges": 1}
    assert json.loads(by_id["bell"]["normalize_edits"]) == {"unicode_form": 1, "control": 2, "zero_width": 1}
    assert by_id["crlf"]["normalize_changes"] == 4 and by_id["bell"]["normalize_changes"] == 4
    assert by_id["same"]["text"] == rows[2]["text"]
    assert by_id["same"]["normalize_edits"] is None and by_id["same"]["normalize_changes"] == 0
