"""Turning class shares into whole sample counts that sum exactly to a total.

:func:`apportion` is the largest-remainder (Hamilton) method with a per-class minimum and
optional per-class caps. :class:`Rotation` carries each class's rounding error from one step to
the next, so a class whose share is 0.3 samples a step still gets about one sample every three
steps instead of never.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pgkd_budget.options import BudgetOptions

__all__ = ["Rotation", "apportion", "hard_floor", "plan_shares"]


def plan_shares(
    weakness: Mapping[str, float], prior: Mapping[str, float], options: BudgetOptions
) -> dict[str, float]:
    """Each class's share of the batch (summing to 1): ``floor_share`` evenly,
    ``prior_share`` by class frequency, the rest by weakness (both given as distributions)."""
    labels = list(weakness)
    if not labels:
        return {}
    even = 1.0 / len(labels)
    rest = 1.0 - options.floor_share - options.prior_share
    return {
        c: options.floor_share * even + options.prior_share * prior.get(c, 0.0) + rest * weakness[c]
        for c in labels
    }


def hard_floor(total: int, n_classes: int, floor_share: float) -> int:
    """Samples every class gets in every answer: the whole part of its even floor."""
    return math.floor(floor_share * total / n_classes + 1e-9) if n_classes else 0


def apportion(
    weights: Mapping[str, float],
    total: int,
    *,
    minimum: int = 0,
    caps: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Whole counts for the keys of ``weights``: each gets ``minimum`` (up to its cap), and the
    rest of ``total`` is split in proportion to the weights by largest remainder, never past a
    cap. Counts sum to ``total`` unless the caps hold fewer. Ties go to the larger weight, then
    to the earlier key, so the result is deterministic."""
    labels = list(weights)
    if total < 0 or minimum < 0:
        raise ValueError("total and minimum must be >= 0")
    limit = {c: (caps[c] if caps is not None and c in caps else total) for c in labels}
    limit = {c: max(0, min(v, total)) for c, v in limit.items()}
    counts = {c: min(minimum, limit[c]) for c in labels}
    if sum(counts.values()) > total:
        raise ValueError(f"a minimum of {minimum} for {len(labels)} classes exceeds {total}")
    left = min(total, sum(limit.values())) - sum(counts.values())
    clean = {c: max(0.0, float(weights[c])) for c in labels}
    if not any(clean.values()):
        clean = dict.fromkeys(labels, 1.0)
    quota = _capped_quotas(clean, {c: limit[c] - counts[c] for c in labels}, left)
    for c in labels:
        counts[c] += math.floor(quota[c] + 1e-9)
    seats = left - sum(math.floor(quota[c] + 1e-9) for c in labels)
    order = {c: i for i, c in enumerate(labels)}
    ranked = sorted(
        (c for c in labels if counts[c] < limit[c]),
        key=lambda c: (-(quota[c] - math.floor(quota[c] + 1e-9)), -clean[c], order[c]),
    )
    for c in ranked[:seats]:
        counts[c] += 1
    return counts


def _capped_quotas(
    weights: Mapping[str, float], room: Mapping[str, int], total: int
) -> dict[str, float]:
    """Proportional quotas of ``total`` that never exceed ``room`` (water-filling: a class
    that hits its room keeps it, and the others share what is left)."""
    quota = dict.fromkeys(weights, 0.0)
    active = [c for c in weights if room[c] > 0]
    left = float(total)
    while active and left > 1e-9:
        mass = sum(weights[c] for c in active)
        share = {c: left * (weights[c] / mass if mass > 0 else 1 / len(active)) for c in active}
        full = [c for c in active if quota[c] + share[c] >= room[c] - 1e-9]
        if not full:
            for c in active:
                quota[c] += share[c]
            break
        for c in full:
            left -= room[c] - quota[c]
            quota[c] = float(room[c])
        active = [c for c in active if c not in full]
    return quota


@dataclass
class Rotation:
    """Whole counts per answer that follow fractional targets over successive steps.

    Each step, a class's target (expected samples in one answer) plus the rounding error it
    carried from earlier steps is apportioned; what it got too few or too many is carried on,
    within ``+-max_carry`` samples. ``carry`` is plain JSON (label to float), so the plugin
    keeps it in the run's ``run_state`` from one step to the next, and across a resume.
    """

    max_carry: float = 2.0
    carry: dict[str, float] = field(default_factory=dict)

    def take(
        self,
        target: Mapping[str, float],
        total: int,
        *,
        minimum: int = 0,
        caps: Mapping[str, int] | None = None,
    ) -> dict[str, int]:
        desired = {c: max(0.0, t - minimum + self.carry.get(c, 0.0)) for c, t in target.items()}
        counts = apportion(desired, total, minimum=minimum, caps=caps)
        bound = self.max_carry
        self.carry = {
            c: min(bound, max(-bound, target[c] + self.carry.get(c, 0.0) - counts[c]))
            for c in target
        }
        return counts

    def reset(self, labels: Sequence[str] = ()) -> None:
        self.carry = dict.fromkeys(labels, 0.0)
