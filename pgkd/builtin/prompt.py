"""The PGKD prompt (the paper's Appendix A structure, in our own words).

Sections appear only when a plugin supplied them, so disabling ``validation_report`` or
``hard_negatives`` removes that part of the prompt: that is how the paper's ablation runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from pgkd.hookspecs import hookimpl
from pgkd.types import Example, Prompt, PromptContents, StepContext

SYSTEM = (
    "You write training data for a small text classifier (the student). You see how the "
    "student currently performs and where it goes wrong, and you write new, realistic, varied "
    "examples that teach it what it is missing. Reply with JSON only."
)

SECTIONS: tuple[tuple[str, str], ...] = (
    ("correct", "Examples the student already classifies correctly (true label / predicted):"),
    ("incorrect", "Examples the student gets wrong (true label / predicted):"),
    (
        "hard_negatives",
        "Examples the student gets wrong while being confident (true label / predicted, "
        "confidence). These sit on its decision boundary:",
    ),
)


def answer_format(n_samples: int) -> str:
    """The sentence that ends every built-in generation prompt: the answer's JSON shape."""
    return (
        f"Answer with a JSON list of {n_samples} objects of the form "
        '{"text": "...", "label": "..."} and nothing else.'
    )


def example_line(example: Example) -> str:
    """One example as the prompt shows it: its text, true label and the student's answer."""
    text = orjson.dumps(example.sample.text).decode()
    pred = example.prediction
    if pred is None:
        return f"- {text} -> {example.sample.target}"
    return (
        f"- {text} -> true: {example.sample.target} / predicted: {pred.target}"
        f" ({pred.confidence:.2f})"
    )


def _task_parts(context: StepContext, shown: dict[str, tuple[Example, ...]]) -> list[str]:
    """The labels and the few-shot examples: what every prompt of a step starts with."""
    parts = [
        "The student classifies texts into exactly one of these labels:",
        "\n".join(f"- {label}" for label in context.labels),
    ]
    few_shot = context.examples.get("few_shot")
    if few_shot:
        parts += ["Labelled examples of the task:", example_block(few_shot)]
        shown["few_shot"] = tuple(few_shot)
    return parts


def is_pgkd_prompt(prompt: Prompt) -> bool:
    """Whether ``prompt`` is one of this module's (the PGKD or the plain prompt), told by its
    system message: a task plugin's own prompt (NER) or the rewrite prompt is not."""
    return prompt.system == SYSTEM


def plain_prompt(context: StepContext, n_samples: int) -> Prompt:
    """A prompt without the built-in guidance: the labels, the few-shot examples, the sections
    other plugins added (``on_eval``: a plugin asked for them, so they stay) and a request for
    varied new examples over all labels. No validation report, no correct, misclassified or
    hard-negative examples (per-call views send it to a share ``explore`` of a step's calls)."""
    shown: dict[str, tuple[Example, ...]] = {}
    parts = _task_parts(context, shown)
    parts += [text for name, text in context.report.items() if name != "validation_report"]
    parts.append(
        f"Write {n_samples} new, varied training examples spread over the labels above, "
        "realistic texts of the kind the student will meet, and do not copy any example "
        f"shown here. {answer_format(n_samples)}"
    )
    contents = PromptContents(labels=tuple(context.labels), examples=shown)
    return Prompt(system=SYSTEM, user="\n\n".join(parts), contents=contents)


def render_prompt(context: StepContext, n_samples: int) -> Prompt:
    shown: dict[str, tuple[Example, ...]] = {}
    parts = _task_parts(context, shown)
    report = context.report.get("validation_report")
    if report:
        parts += [
            "The student's current scores on a held-out validation set, weakest classes "
            "first (you will never see the validation texts themselves):",
            report,
        ]
    for key, title in SECTIONS:
        examples = context.examples.get(key)
        if examples:
            parts += [title, example_block(examples)]
            shown[key] = tuple(examples)
    extra = [text for name, text in context.report.items() if name != "validation_report"]
    parts += extra
    parts.append(
        f"Write {n_samples} new training examples that will raise the student's accuracy: "
        "favour the classes and confusions it struggles with, keep labels strictly from the "
        f"list above, and do not copy any example shown here. {answer_format(n_samples)}"
    )
    contents = PromptContents(
        labels=tuple(context.labels),
        examples=shown,
        validation=context.validation if report else None,
    )
    return Prompt(system=SYSTEM, user="\n\n".join(parts), contents=contents)


def example_block(examples: Sequence[Example]) -> str:
    """One example list as the prompt shows it (per-call views look for exactly this text)."""
    return "\n".join(map(example_line, examples))


@hookimpl(trylast=True)
def build_prompt(context: StepContext, n_samples: int) -> Prompt:
    return render_prompt(context, n_samples)
