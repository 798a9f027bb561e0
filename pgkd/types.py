"""The plain data that flows between the loop, the tasks, the students, the teachers and plugins.

Everything here is a frozen dataclass so hooks cannot mutate shared state behind the loop's back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled example.

    ``target`` is whatever the task predicts: a class name for classification, a tuple of
    entity spans for NER. ``origin`` is ``"seed"`` for user data and ``"teacher"`` for
    generated samples; ``step`` is the KD step that produced it (0 for seed data).
    """

    text: str
    target: Any
    origin: str = "seed"
    step: int = 0


@dataclass(frozen=True, slots=True)
class Prediction:
    """The student's answer for one sample: what it predicted, how sure it was, and whether
    that matches the gold target."""

    target: Any
    confidence: float
    correct: bool


@dataclass(frozen=True, slots=True)
class ClassScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Aggregate quality of a student on one split. Holds numbers only, never samples, so it is
    safe to show a teacher."""

    loss: float
    metrics: Mapping[str, float]
    per_class: Mapping[str, ClassScore]
    labels: tuple[str, ...] = ()
    confusion: tuple[tuple[int, ...], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            **dict(self.metrics),
            "per_class": {
                name: {
                    "precision": s.precision,
                    "recall": s.recall,
                    "f1": s.f1,
                    "support": s.support,
                }
                for name, s in self.per_class.items()
            },
        }


@dataclass(frozen=True, slots=True)
class Example:
    """A training sample picked for the prompt, with the student's prediction when known."""

    sample: Sample
    prediction: Prediction | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    user: str

    @property
    def text(self) -> str:
        return f"{self.system}\n\n{self.user}"


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What one teacher call of a fill asks for: its prompt and how many samples
    (``n_samples``, which also sizes the answer schema). ``n_samples == 0`` asks for no call:
    the fill needs no more (see the ``prepare_call`` hook)."""

    prompt: Prompt
    n_samples: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record a teacher produced, before validation. ``sample`` is None when the record did
    not parse into the task's schema; ``parse_error`` then says why."""

    record: Mapping[str, Any]
    sample: Sample | None
    parse_error: str | None = None
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A validator's verdict against one candidate, by its index in the batch."""

    index: int
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StepVerdict:
    """What an ``on_step_end`` plugin decided about the step that just finished."""

    is_best: bool | None = None
    stop: bool = False
    reason: str = ""


@dataclass(slots=True)
class StepContext:
    """Everything a hook may look at while a KD step is prepared.

    ``step`` is the KD step being prepared (1-based). ``validation`` holds only aggregate
    validation numbers: validation and test *samples* are deliberately absent. ``history`` is
    the training history (seed plus accepted teacher samples) and ``train_predictions`` the
    current student's predictions on it, aligned by index: out of fold when the task and
    student can make them (``[kd] train_predictions``), so a student that fits its history
    still shows its mistakes.

    ``state`` is rebuilt for every step. ``run_state`` is a plugin's memory across steps, one
    key per plugin (its name, by convention) holding JSON values only: dicts with string keys,
    lists, strings, finite numbers, booleans and ``None``. Every hook of a step sees the same
    dict. When the step completes, pgkd journals it with the step's other records and hands the
    next step the value read back from JSON (a tuple comes back a list), so an uninterrupted
    run and a resumed one see the same thing; ``pgkd resume`` starts from the last completed
    step's value, and a step that did not complete leaves no trace in it.
    """

    step: int
    task: Any
    labels: tuple[str, ...]
    history: Sequence[Sample]
    train_predictions: Sequence[Prediction]
    validation: Evaluation
    settings: Any
    seed: int
    report: dict[str, str] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    #: Loop-maintained facts plugins may read: ``val_losses`` (one per evaluated student).
    state: dict[str, Any] = field(default_factory=dict)
    #: Answers "is this text a copy of validation/test text?" without exposing those texts.
    guard: Any = None
    #: Plugins' state across steps, kept in the run directory (see above).
    run_state: dict[str, Any] = field(default_factory=dict)
    #: The run directory, for plugins that log or write beside the run (None without one).
    run_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """The outcome of one finished step, given to ``on_step_end``."""

    step: int
    validation: Evaluation
    test: Evaluation | None
    accepted: int
    rejected: int
    history_size: int
    best_loss: float
    best_step: int
