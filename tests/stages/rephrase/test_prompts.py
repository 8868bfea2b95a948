import pytest

from gristmill.stages.rephrase.prompts import WRAP_SYSTEM_PROMPT, resolve_styles, wrap_style
from gristmill.stages.rephrase.stage import RephraseConfig


def test_wrap_styles_put_the_chunk_after_the_instruction_with_the_system_prompt():
    style = wrap_style("medium")
    msgs = style.messages("Cats {sleep} a lot.")
    assert msgs[0] == {"role": "system", "content": WRAP_SYSTEM_PROMPT}
    assert msgs[1]["content"].startswith("For the following paragraph give me a diverse paraphrase")
    assert msgs[1]["content"].endswith("Wikipedia:\n\nCats {sleep} a lot.")  # braces in web text survive


def test_prompt_hash_names_the_exact_prompt():
    assert wrap_style("qa").prompt_hash == wrap_style("qa").prompt_hash
    assert wrap_style("qa").prompt_hash != wrap_style("easy").prompt_hash
    assert wrap_style("qa").prompt_hash != wrap_style("qa", system=None).prompt_hash


def test_custom_styles_and_unknown_names():
    [s] = resolve_styles(["tweet"], {"tweet": "Rewrite as a tweet: {text}"}, None)
    assert s.messages("x") == [{"role": "user", "content": "Rewrite as a tweet: x"}]
    with pytest.raises(ValueError, match="unknown rephrase style 'poem'"):
        resolve_styles(["poem"], {}, None)


def test_config_rejects_bad_templates_samples_and_endpoints():
    with pytest.raises(ValueError, match="exactly one"):
        RephraseConfig(styles=["x"], custom_styles={"x": "no slot"})
    with pytest.raises(ValueError, match="fraction in"):
        RephraseConfig(sample=1.5)
    with pytest.raises(ValueError, match="count >= 1"):
        RephraseConfig(sample=0)
    with pytest.raises(ValueError, match="base_url"):
        RephraseConfig(backend="openai")
    assert RephraseConfig(sample=8).sample == 8 and RephraseConfig(sample=0.5).sample == 0.5
