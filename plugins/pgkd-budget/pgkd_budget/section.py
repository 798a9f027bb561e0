"""The prompt section that hands one answer's share of a step's budget to the teacher.

It holds one machine-readable line, ``counts: {"label": n, ...}`` (the form the SIMULATION
teacher's ``request`` strategy honours), and the same request in plain words for an LLM: how
many samples of each class, which class each should clearly not be mistaken for, and the
confusions behind that. Only label names and counts appear: never a validation text.
"""

from __future__ import annotations

import json
from collections import defaultdict

from pgkd_budget.budget import StepBudget

__all__ = ["SECTION", "asked", "counts_line", "render_section"]

#: The ``context.report`` key the section is returned under.
SECTION = "sample_budget"


def asked(counts: dict[str, int]) -> list[str]:
    """Classes with a count, most first (ties in the given order)."""
    order = {label: i for i, label in enumerate(counts)}
    return sorted((c for c, n in counts.items() if n > 0), key=lambda c: (-counts[c], order[c]))


def counts_line(counts: dict[str, int]) -> str:
    """``counts: {"b": 3, "a": 1}``: the line the SIMULATION teacher's ``request`` reads."""
    return "counts: " + json.dumps({c: counts[c] for c in asked(counts)}, ensure_ascii=False)


def _quoted(label: str) -> str:
    return json.dumps(label, ensure_ascii=False)


def render_section(budget: StepBudget, answer: int = 0) -> str:
    """The section for the step's ``answer``-th teacher call."""
    counts = budget.answers[answer]
    contrasts: dict[str, list[str]] = defaultdict(list)
    for pair in budget.pairs:
        contrasts[pair.true].append(pair.predicted)
    lines = [
        "Sample budget: the student's weak classes were measured for you (validation F1 and "
        "recall, its errors on its own training data, the classes it confuses). In this answer "
        f"write exactly these numbers of examples per label, {sum(counts.values())} in total, "
        "and no other labels:",
        counts_line(counts),
    ]
    for label in asked(counts):
        count = counts[label]
        line = f"- {count} {_quoted(label)} {'example' if count == 1 else 'examples'}"
        others = contrasts.get(label)
        if others:
            line += " that a reader could not mistake for " + " or ".join(map(_quoted, others))
        lines.append(line)
    if budget.pairs:
        named = ", ".join(
            f"{_quoted(p.true)} taken for {_quoted(p.predicted)} ({p.errors}x)"
            for p in budget.pairs
        )
        lines.append(
            f"The confusions to fix, most frequent first (validation and training errors): {named}."
        )
    if budget.calls > 1:
        lines.append(
            f"This step's {sum(budget.per_step.values())} examples are split over "
            f"{budget.calls} answers, each with its own counts; this is answer {answer + 1}."
        )
    return "\n".join(lines)
