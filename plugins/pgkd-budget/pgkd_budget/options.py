"""The strategy's knobs, with their defaults and one-line errors for bad values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from pgkd import ConfigError

__all__ = ["BudgetOptions"]


@dataclass(frozen=True, slots=True)
class BudgetOptions:
    """How a KD step's batch is split across classes.

    Each class's share of the batch is a mixture: ``floor_share`` spread evenly over the
    classes (every class keeps getting samples), ``prior_share`` in proportion to how often the
    class occurs in the seed training data (what an unguided teacher would give it), and the
    rest in proportion to the class's weakness. Weakness mixes four signals, each normalised to
    sum to one over the classes and weighted by the ``*_weight`` options: ``1 - F1`` and
    ``1 - recall`` on validation, both shrunk toward their mean over classes by the class's
    validation support (``prior_strength`` is how many validation samples the mean is worth),
    the error rate on the training history (shrunk by ``train_prior_strength`` training
    samples), and the class's errors in the ``top_pairs`` most-confused (true, predicted) pairs
    of the validation and training confusion matrices.
    """

    floor_share: float = 0.25
    prior_share: float = 0.25
    prior_strength: float = 10.0
    train_prior_strength: float = 20.0
    f1_weight: float = 0.4
    recall_weight: float = 0.2
    train_error_weight: float = 0.2
    confusion_weight: float = 0.2
    top_pairs: int = 5
    #: A pair is named as a confusion only with at least this many errors (validation + train).
    min_pair_errors: int = 2
    #: Carried rounding error per class is kept within +-this many samples.
    max_carry: float = 2.0
    #: With several teacher calls a step, send each call its own share of the step's counts
    #: (the plugin's ``prepare_call`` hook plans each call); off, every call gets the first
    #: answer's counts and a step receives that many times the first answer.
    split_calls: bool = True
    #: Tasks this strategy applies to (``context.task.name``); other tasks are left alone.
    tasks: tuple[str, ...] = ("classification",)

    def __post_init__(self) -> None:
        for name in ("floor_share", "prior_share"):
            _check_number(name, getattr(self, name), high=1.0)
        if self.floor_share + self.prior_share > 1:
            raise ConfigError("budget options: floor_share + prior_share must be at most 1")
        for name in (
            "prior_strength",
            "train_prior_strength",
            "f1_weight",
            "recall_weight",
            "train_error_weight",
            "confusion_weight",
            "max_carry",
        ):
            _check_number(name, getattr(self, name), high=math.inf)
        if self.weights_total() <= 0:
            raise ConfigError("budget options: at least one *_weight must be above 0")
        for name in ("top_pairs", "min_pair_errors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"budget options: {name} = {value!r} must be an integer >= 0")

    def weights_total(self) -> float:
        return self.f1_weight + self.recall_weight + self.train_error_weight + self.confusion_weight

    def updated(self, values: Mapping[str, Any]) -> BudgetOptions:
        """A copy with ``values`` (e.g. a config table) applied; unknown keys are an error."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"budget options: unknown key(s) {', '.join(unknown)}; "
                f"use one of: {', '.join(sorted(known))}"
            )
        changes = dict(values)
        if "tasks" in changes:
            changes["tasks"] = tuple(changes["tasks"])
        return replace(self, **changes)


def _check_number(name: str, value: object, *, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        bound = "a number >= 0" if math.isinf(high) else f"a number from 0 to {high:g}"
        raise ConfigError(f"budget options: {name} = {value!r} must be {bound}")
