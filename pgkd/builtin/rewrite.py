"""A label-preserving rewrite prompt for weak teachers.

Small local models invent poorly (they copy the prompt's examples or drift off the label) but
paraphrase acceptably. In this mode the step's prompt hands the teacher the training examples
the student gets wrong (hard negatives first, then the other misclassified ones; the few-shot
examples when there are none) with their true labels, and asks for new texts that say the same
kind of thing in other words, each keeping its source's label. The student then sees more
texts like the ones it fails on, labelled as they truly are.

Off by default: ``[plugins.options.rewrite] enabled = true`` turns it on (it answers
``build_prompt`` before the paper's prompt). With per-call views on, each call rewrites its
own slice of the examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from pgkd.builtin.plugin_options import plugin_table, read_bool
from pgkd.builtin.prompt import answer_format
from pgkd.hookspecs import hookimpl
from pgkd.types import Example, Prompt, PromptContents, StepContext

__all__ = ["NAME", "SYSTEM", "is_rewrite_prompt", "render_rewrite_prompt", "rewrite_block"]

NAME = "rewrite"

SYSTEM = (
    "You rewrite training examples for a small text classifier. For each example you are "
    "given, you write a new text with the same label: the same kind of request or topic, in "
    "different words, with different details. Reply with JSON only."
)

#: The example lists a rewrite prompt shows, in order, with their titles.
SOURCES: tuple[tuple[str, str], ...] = (
    (
        "hard_negatives",
        "Examples the student gets wrong while being confident (it took each for another label):",
    ),
    ("incorrect", "Other examples the student gets wrong:"),
)
FALLBACK = ("few_shot", "Examples of the task:")


def rewrite_line(example: Example) -> str:
    text = orjson.dumps(example.sample.text).decode()
    line = f"- label: {example.sample.target} | text: {text}"
    pred = example.prediction
    if pred is not None and not pred.correct:
        line += f" | the student said: {pred.target}"
    return line


def rewrite_block(examples: Sequence[Example]) -> str:
    """One example list as the rewrite prompt shows it."""
    return "\n".join(map(rewrite_line, examples))


def is_rewrite_prompt(prompt: Prompt) -> bool:
    return prompt.system == SYSTEM


def render_rewrite_prompt(context: StepContext, n_samples: int) -> Prompt | None:
    """The rewrite prompt, or None when the step has no example to rewrite."""
    sections = [(key, title) for key, title in SOURCES if context.examples.get(key)]
    if not sections and context.examples.get(FALLBACK[0]):
        sections = [FALLBACK]
    if not sections:
        return None
    parts = [
        "The classifier's labels:",
        "\n".join(f"- {label}" for label in context.labels),
    ]
    for key, title in sections:
        parts += [title, rewrite_block(context.examples[key])]
    parts.append(
        f"Write {n_samples} new texts, each a rewrite of one example above (go through them in "
        "order, starting again at the top if you run out). A rewrite keeps what makes its "
        "example belong to its label, changes the wording and the details (names, products, "
        "numbers, places), and is not a copy. Give each new text the label of the example it "
        f"rewrites, never the label the student said. {answer_format(n_samples)}"
    )
    # What the prompt shows, as data: the lists it asks to rewrite, and no validation scores.
    contents = PromptContents(
        labels=tuple(context.labels),
        examples={key: tuple(context.examples[key]) for key, _ in sections},
    )
    return Prompt(system=SYSTEM, user="\n\n".join(parts), contents=contents)


class RewritePrompt:
    """``build_prompt`` in rewrite mode, when ``[plugins.options.rewrite] enabled``."""

    @hookimpl(trylast=True)
    def build_prompt(self, context: StepContext, n_samples: int) -> Prompt | None:
        table = plugin_table(context.settings, NAME, ("enabled",))
        if not read_bool(table, NAME, "enabled", False):
            return None
        return render_rewrite_prompt(context, n_samples)
