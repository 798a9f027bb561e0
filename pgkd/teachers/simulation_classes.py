"""Which classes the SIMULATION teacher writes: the ``strategy`` option.

``uniform`` draws pool rows at random, so classes come in the pool's proportions. ``guided``
draws classes from :func:`guided_weights`, computed from what the prompt shows (its
:class:`~pgkd.types.PromptContents`): like an LLM, it is guided only by what reached the
prompt. ``request`` writes exactly the per-class counts a prompt names on a ``counts:`` line
(:func:`parse_counts`; pgkd-budget writes one), and answers like ``guided`` without one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from pgkd.teachers.base import TeacherError
from pgkd.teachers.simulation_texts import ERROR_LISTS
from pgkd.types import PromptContents

__all__ = ["STRATEGIES", "guided_weights", "parse_counts", "total_variation"]

STRATEGIES = ("uniform", "guided", "request")
_COUNTS_LINE = re.compile(r"^\s*counts\s*:\s*(\{.*\})\s*$", re.IGNORECASE | re.MULTILINE)


def guided_weights(
    contents: PromptContents,
    labels: Sequence[str],
    *,
    floor: float,
    error_share: float,
    prior_strength: float,
    strength: float = 1.0,
) -> dict[str, float]:
    """Draw probabilities over ``labels`` (summing to 1) from what a prompt shows.

    A mixture: ``floor`` evenly over the labels; ``error_share`` in proportion to how often each
    label is the true label of the prompt's ``incorrect`` and ``hard_negatives`` examples (its
    share goes to the weakness part when there are none); the rest in proportion to weakness,
    ``1 - F1`` where each label's validation F1 is shrunk toward the mean F1 by its support.
    With about five validation samples per class a raw F1 is mostly noise; shrinking keeps one
    unlucky sample from steering the whole batch. When the prompt does not show the validation
    report (``contents.validation`` is None) no F1 is known and the weakness part is even.

    ``strength`` is how hard the writer leans on that guidance: the mixture is raised to this
    power and renormalised (0: classes evenly; 1: the mixture; higher: more of the weakest).
    A real LLM told to favour weak classes may move much more than the mixture does, so the
    benchmarks measure a range.
    """
    if not labels:
        return {}
    scores = contents.validation.per_class if contents.validation is not None else {}
    supported = [score.f1 for score in scores.values() if score.support > 0]
    mean_f1 = sum(supported) / len(supported) if supported else 0.0
    weakness: dict[str, float] = {}
    for label in labels:
        score = scores.get(label)
        support = score.support if score is not None else 0
        f1 = score.f1 if score is not None else mean_f1
        weight = support + prior_strength
        shrunk = (support * f1 + prior_strength * mean_f1) / weight if weight > 0 else mean_f1
        weakness[label] = max(0.0, 1.0 - shrunk)
    errors = Counter(
        example.sample.target
        for name in ERROR_LISTS
        for example in contents.examples.get(name, ())
        if example.sample.target in weakness
    )
    total_errors = sum(errors.values())
    if total_errors == 0:
        error_share = 0.0
    total_weakness = sum(weakness.values())
    weak_share = 1.0 - floor - error_share
    weights: dict[str, float] = {}
    for label in labels:
        weak = weakness[label] / total_weakness if total_weakness else 1.0 / len(labels)
        error = errors[label] / total_errors if total_errors else 0.0
        weights[label] = floor / len(labels) + weak_share * weak + error_share * error
    return _sharpen(weights, strength)


def _sharpen(weights: Mapping[str, float], strength: float) -> dict[str, float]:
    if strength == 1.0:
        return dict(weights)
    powered = {label: (w**strength if w > 0 else 0.0) for label, w in weights.items()}
    total = sum(powered.values())
    if total <= 0:
        return {label: 1.0 / len(weights) for label in weights}
    return {label: w / total for label, w in powered.items()}


def total_variation(weights: Mapping[str, float]) -> float:
    """The total-variation distance of ``weights`` from an even split over the same labels:
    the share of a step's samples the guidance moves."""
    if not weights:
        return 0.0
    even = 1.0 / len(weights)
    return 0.5 * sum(abs(w - even) for w in weights.values())


def parse_counts(user: str) -> dict[str, int] | None:
    """The per-class counts a prompt asks for (a ``counts: {...}`` line), or None if none."""
    match = _COUNTS_LINE.search(user)
    if match is None:
        return None
    line = match.group(0).strip()
    try:
        value = json.loads(match.group(1))
    except ValueError as exc:
        raise TeacherError(f"prompt line {line!r} is not `counts: <JSON object>`: {exc}") from exc
    if not isinstance(value, dict) or not all(
        isinstance(count, int) and not isinstance(count, bool) and count >= 0
        for count in value.values()
    ):
        raise TeacherError(
            f"prompt line {line!r} must map each label to a non-negative integer, "
            'e.g. counts: {"Sports": 3}'
        )
    return {str(label): int(count) for label, count in value.items()}
