"""One KD step's sample budget: how many samples of which class, in all and per teacher answer.

The step's plan (``[kd] batch_size`` samples split by weakness) is made whole once per step by a
:class:`Rotation`, then dealt over the step's ``ceil(batch / samples_per_call)`` teacher answers
so that each answer holds ``samples_per_call`` samples (the last one the rest) and each class is
spread as evenly as it can be over the answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pgkd import StepContext

from pgkd_budget.allocation import Rotation, hard_floor, plan_shares
from pgkd_budget.options import BudgetOptions
from pgkd_budget.weakness import (
    ClassWeakness,
    ConfusedPair,
    class_prior,
    class_weakness,
    confused_pairs,
)

__all__ = ["Capacity", "StepBudget", "deal", "step_budget", "step_sizes"]

#: How many more samples of a class the teacher can write (None: no limit). A real LLM has no
#: limit; a simulation pool does.
Capacity = Callable[[str], int | None]


@dataclass(frozen=True, slots=True)
class StepBudget:
    """What one step asks of the teacher."""

    step: int
    batch: int
    #: Whole samples per class for the step, summing to ``batch`` (unless capacity ran out).
    per_step: dict[str, int]
    #: The per-class counts of each teacher answer; together they make ``per_step``.
    answers: tuple[dict[str, int], ...]
    #: The step's plan before rounding (expected samples per class, summing to ``batch``).
    planned: dict[str, float]
    pairs: tuple[ConfusedPair, ...]
    weakness: dict[str, ClassWeakness]

    @property
    def calls(self) -> int:
        return len(self.answers)


def step_sizes(settings: Any) -> tuple[int, int]:
    """(``[kd] batch_size``, ``[teacher] samples_per_call``) from the run's settings."""
    batch = int(getattr(getattr(settings, "kd", None), "batch_size", 32))
    per_call = int(getattr(getattr(settings, "teacher", None), "samples_per_call", 8))
    return max(1, batch), max(1, per_call)


def deal(counts: Mapping[str, int], sizes: list[int]) -> tuple[dict[str, int], ...]:
    """Split ``counts`` into answers of the given ``sizes`` (summing to the counts' total):
    classes in order of count (most first), each sample to the next answer with room, so every
    class is spread evenly over the answers. Deterministic."""
    answers: list[dict[str, int]] = [dict.fromkeys(counts, 0) for _ in sizes]
    room = list(sizes)
    order = {label: i for i, label in enumerate(counts)}
    turn = 0
    for label in sorted(counts, key=lambda c: (-counts[c], order[c])):
        for _ in range(counts[label]):
            while room[turn % len(room)] == 0:
                turn += 1
            answers[turn % len(room)][label] += 1
            room[turn % len(room)] -= 1
            turn += 1
    return tuple(answers)


def step_budget(
    context: StepContext,
    options: BudgetOptions,
    rotation: Rotation,
    capacity: Capacity | None = None,
) -> StepBudget:
    """The step's budget from its context; advances ``rotation``."""
    labels = list(context.labels)
    batch, samples_per_call = step_sizes(context.settings)
    pairs = confused_pairs(
        context.validation,
        context.history,
        context.train_predictions,
        labels,
        top=options.top_pairs,
        min_errors=options.min_pair_errors,
    )
    weakness = class_weakness(
        context.validation, context.history, context.train_predictions, labels, options, pairs
    )
    shares = plan_shares(
        {c: w.score for c, w in weakness.items()}, class_prior(context.history, labels), options
    )
    planned = {c: batch * share for c, share in shares.items()}
    # Without split calls every call repeats the first answer, so a class may take only as
    # many samples a step as each of the calls can still get.
    repeats = 1 if options.split_calls else math.ceil(batch / samples_per_call)
    per_step = rotation.take(
        planned,
        batch,
        minimum=hard_floor(batch, len(labels), options.floor_share),
        caps=_caps(labels, capacity, repeats),
    )
    total = sum(per_step.values())
    calls = max(1, math.ceil(total / samples_per_call))
    sizes = [total // calls + (i < total % calls) for i in range(calls)]
    return StepBudget(
        step=context.step,
        batch=batch,
        per_step=per_step,
        answers=deal(per_step, sizes),
        planned=planned,
        pairs=tuple(pairs),
        weakness=weakness,
    )


def _caps(labels: list[str], capacity: Capacity | None, repeats: int) -> Mapping[str, int] | None:
    """Per-step caps: what the teacher can still write of a class, in whole ``repeats``."""
    if capacity is None:
        return None
    caps: dict[str, int] = {}
    for label in labels:
        left = capacity(label)
        if left is not None:
            caps[label] = max(0, left) // repeats * repeats
    return caps
