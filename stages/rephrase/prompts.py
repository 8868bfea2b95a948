"""WRAP's rephrasing prompts (Maini et al., 2024, "Rephrasing the Web: A Recipe for Compute and
Data-Efficient Language Modeling", arXiv:2401.16380) and user-defined styles.

WRAP prompts an instruction-tuned model (Mistral-7B-Instruct in the paper) with a Vicuna-style system
prompt and one instruction per style: easy (a toddler's vocabulary), medium (Wikipedia-like), hard (terse and
abstruse) and qa (question/answer pairs). The paper prints these prompts in a figure of its appendix; the
texts below were checked against two independent reproductions of that figure (a paper digest on
managen.ai and a survey of synthetic-data methods), which agree word for word. The figure shows each
instruction ending in a colon with the paragraph after it; it does not show the separator, so putting the
chunk on the next line after a blank line is our choice (`PARAGRAPH_SEPARATOR`).

WRAP writes "USER: <instruction>" as one string after the system prompt (Vicuna's format). With a chat
model we send the system prompt as the system message and the instruction plus the chunk as the user
message, so the model's own chat template frames them; `system_prompt: null` in the config drops the
system message for models whose template has none.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

WRAP_SYSTEM_PROMPT = ("A chat between a curious user and an artificial intelligence assistant. "
                      "The assistant gives helpful, detailed, and polite answers to the questions.")

WRAP_INSTRUCTIONS = {
    "easy": ("For the following paragraph give me a paraphrase of the same using a very small vocabulary "
             "and extremely simple sentences that a toddler will understand:"),
    "medium": ("For the following paragraph give me a diverse paraphrase of the same in high quality English "
               "language as in sentences on Wikipedia:"),
    "hard": ("For the following paragraph give me a paraphrase of the same using very terse and abstruse "
             "language that only an erudite scholar will understand. Replace simple words and phrases with "
             "rare and complex ones:"),
    "qa": ('Convert the following paragraph into a conversational format with multiple tags of "Question:" '
           'followed by "Answer:":'),
}

PARAGRAPH_SEPARATOR = "\n\n"
SLOT = "{text}"


@dataclass(frozen=True)
class Style:
    name: str
    template: str  # the user message, with one {text} slot for the chunk
    system: str | None
    tags: tuple[str, ...] = ()  # the labels an answer must carry, in this order (WRAP's qa: Question:, Answer:)

    def user_message(self, chunk: str) -> str:
        # str.replace, not str.format: web text is full of braces
        return self.template.replace(SLOT, chunk)

    def messages(self, chunk: str) -> list[dict]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.user_message(chunk)}]

    def instruction(self) -> str:
        """The template without the chunk: what an answer that echoes the prompt repeats."""
        return self.template.replace(SLOT, "").strip()

    @property
    def prompt_hash(self) -> str:
        """Names the exact prompt (system + template): any wording change gives a new hash and new cache keys."""
        blob = json.dumps({"system": self.system, "template": self.template}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# the tags WRAP's qa instruction names; a custom style's template is free text, so it asks for none
WRAP_TAGS = {"qa": ("Question:", "Answer:")}


def wrap_style(name: str, system: str | None = WRAP_SYSTEM_PROMPT) -> Style:
    return Style(name, WRAP_INSTRUCTIONS[name] + PARAGRAPH_SEPARATOR + SLOT, system, WRAP_TAGS.get(name, ()))


def resolve_styles(names: list[str], custom: dict[str, str], system: str | None) -> list[Style]:
    """WRAP's four styles by name, plus user-defined ones ({name: template with one {text} slot})."""
    out = []
    for name in names:
        if name in custom:
            out.append(Style(name, custom[name], system))
        elif name in WRAP_INSTRUCTIONS:
            out.append(wrap_style(name, system))
        else:
            known = sorted(set(WRAP_INSTRUCTIONS) | set(custom))
            raise ValueError(f"unknown rephrase style '{name}'; known: {', '.join(known)} "
                             f"(define new ones under custom_styles: {{name: 'template with {SLOT}'}})")
    return out


def check_template(name: str, template: str) -> None:
    if template.count(SLOT) != 1:
        raise ValueError(f"custom style '{name}' must contain exactly one {SLOT} slot for the chunk, "
                         f"found {template.count(SLOT)}")
