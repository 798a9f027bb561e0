"""The NER teacher prompt: the entity taxonomy, example sentences with their entities, the
entity-level report, and the student's right, wrong and confidently wrong sentences with gold
versus predicted entities. It asks for new sentences with entities named by their text, which
LLMs write far more reliably than character offsets.

Sections appear only when a plugin supplied them, as in pgkd's built-in prompt, so the paper's
ablations (``[plugins] disable = ["hard_negatives"]``, ``["validation_report"]``) work here too:
the entity report is shown only while the ``validation_report`` section is produced.
"""

from __future__ import annotations

import orjson
from pgkd import Example, Prompt, StepContext

from pgkd_ner.spans import Spans, describe

SYSTEM = (
    "You write training data for a small named-entity recognizer (the student). You see how "
    "the student currently performs and where it goes wrong, and you write new, realistic, "
    "varied sentences with every entity marked, to teach it what it is missing. Reply with "
    "JSON only."
)
#: Key of the entity report in ``context.report``; the built-in table stays under
#: ``validation_report`` and is replaced by this one in the NER prompt.
REPORT_KEY = "entity_report"
BUILTIN_REPORT_KEY = "validation_report"

SECTIONS: tuple[tuple[str, str], ...] = (
    ("correct", "Sentences the student already tags exactly right:"),
    ("incorrect", "Sentences the student gets wrong (true entities / predicted entities):"),
    (
        "hard_negatives",
        "Sentences the student gets wrong while being confident (true / predicted, "
        "confidence). These sit on its decision boundary:",
    ),
)


def render_example(example: Example) -> str:
    sample, pred = example.sample, example.prediction
    text = orjson.dumps(sample.text).decode()
    gold: Spans = sample.target
    if pred is None or pred.correct:
        return f"- {text} -> {describe(sample.text, gold)}"
    predicted: Spans = pred.target
    return (
        f"- {text}\n  true: {describe(sample.text, gold)}\n"
        f"  predicted: {describe(sample.text, predicted)} ({pred.confidence:.2f})"
    )


def answer_instruction(n_samples: int) -> str:
    form = '{"text": "...", "entities": [{"text": "<entity exactly as written>", "label": "..."}]}'
    return (
        f"Write {n_samples} new training sentences that will raise the student's entity F1: "
        "favour the entity types and mistakes it struggles with, mark every entity of the "
        "types above (and nothing else), copy each entity's text exactly as it appears in the "
        "sentence, use types strictly from the list, and do not copy any sentence shown here. "
        f"Answer with a JSON list of {n_samples} objects of the form {form} and nothing else; "
        'a sentence without entities has "entities": [].'
    )


def render_ner_prompt(context: StepContext, n_samples: int) -> Prompt:
    parts = [
        "The student marks entities of exactly these types in a sentence:",
        "\n".join(f"- {label}" for label in context.labels),
    ]
    few_shot = context.examples.get("few_shot")
    if few_shot:
        parts += [
            "Example sentences with their entities:",
            "\n".join(map(render_example, few_shot)),
        ]
    report = context.report.get(REPORT_KEY)
    if report and BUILTIN_REPORT_KEY in context.report:
        parts += [
            "The student's current scores on held-out validation sentences, weakest types "
            "first (you will never see the validation sentences themselves):",
            report,
        ]
    for key, title in SECTIONS:
        examples = context.examples.get(key)
        if examples:
            parts += [title, "\n".join(map(render_example, examples))]
    parts += [
        text
        for name, text in context.report.items()
        if name not in (REPORT_KEY, BUILTIN_REPORT_KEY)
    ]
    parts.append(answer_instruction(n_samples))
    return Prompt(system=SYSTEM, user="\n\n".join(parts))
