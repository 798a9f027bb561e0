"""The plain data that flows between the loop, the tasks, the students, the teachers and plugins.

Everything here is a frozen dataclass so hooks cannot mutate shared state behind the loop's back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from pgkd.config import Config
    from pgkd.tasks.base import Task

#: A value that really is arbitrary JSON: a teacher's record, a plugin's ``run_state``, a
#: JSON schema. Typed ``Any`` on purpose: its shape is the JSON's, not Python's.
JsonValue: TypeAlias = Any

#: What a task predicts for one text, and so what ``Sample.target`` and ``Prediction.target``
#: hold. The task defines it, not pgkd: a class name (``str``) for the built-in classification
#: task, a tuple of entity spans for the NER plugin's, whatever a new task needs. pgkd itself
#: only compares targets or prints them, so it is typed ``object``: the task that made a target
#: narrows it (``isinstance``) where it reads it, and no code can assume one task's type.
Target: TypeAlias = object


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled example.

    ``target`` is whatever the task predicts (see :data:`Target`): a class name for
    classification, a tuple of entity spans for NER. ``origin`` is ``"seed"`` for user data and
    ``"teacher"`` for generated samples; ``step`` is the KD step that produced it (0 for seed
    data).
    """

    text: str
    target: Target
    origin: str = "seed"
    step: int = 0


@dataclass(frozen=True, slots=True)
class Prediction:
    """The student's answer for one sample: what it predicted, how sure it was, and whether
    that matches the gold target."""

    target: Target
    confidence: float
    correct: bool


@dataclass(frozen=True, slots=True)
class ClassScore:
    """One class's scores on a split."""

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

    def to_dict(self) -> dict[str, JsonValue]:
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
class PromptContents:
    """What a prompt shows, as data: the labels, each example list by name (``few_shot``,
    ``correct``, ``incorrect``, ``hard_negatives``, ...) and the validation scores when the
    prompt shows the validation report (None when it does not). The prompt builder records
    exactly what it rendered into the text, nothing more.

    An LLM reads the prompt's text and ignores this. A teacher that answers from structure
    instead of text (the SIMULATION teacher) reads it, so it knows what an LLM would know and
    nothing the prompt left out: not the history, not the predictions, not a disabled list.
    """

    labels: tuple[str, ...] = ()
    examples: Mapping[str, tuple[Example, ...]] = field(default_factory=dict)
    validation: Evaluation | None = None
    #: The texts a labelling prompt asks the teacher to classify, in the order it numbers
    #: them (a ``teacher_verification`` call); empty for a prompt that asks for new samples.
    to_label: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prompt:
    """A teacher prompt: the system message and the user message, and what it shows as data
    (``contents``, optional: see :class:`PromptContents`; ``dataclasses.replace`` keeps it,
    equality ignores it)."""

    system: str
    user: str
    contents: PromptContents | None = field(default=None, compare=False)

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

    record: Mapping[str, JsonValue]
    sample: Sample | None
    parse_error: str | None = None
    call_id: str = ""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A validator's verdict against one candidate, by its index in the batch: ``reason`` is a
    short key counted per reason (``"duplicate_of_history"``), ``detail`` free text for a
    person (``"3 chars < 5"``). Both are journaled as fields of the sample's line."""

    index: int
    reason: str
    detail: str = ""

    @property
    def text(self) -> str:
        """``"reason: detail"`` (or the bare reason), as a person reads it."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason

    def to_record(self) -> dict[str, str]:
        """The journal's form: reason and detail as fields (the index is the sample's)."""
        return {"reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class StepVerdict:
    """What an ``on_step_end`` plugin decided about the step that just finished."""

    is_best: bool | None = None
    stop: bool = False
    reason: str = ""


class HeldOutCheck(Protocol):
    """Answers "is this text a copy of validation/test text?" without handing those texts
    out. :class:`pgkd.guard.HeldOutGuard` is the one a run uses."""

    def copy_kind(self, text: str) -> str | None:
        """``"exact"`` or ``"near"`` when ``text`` copies held-out text, else ``None``."""
        ...

    def leaks(self, text: str) -> bool:
        """True when ``text`` contains a held-out passage (so it must not go into a prompt)."""
        ...

    def check_prompt(self, prompt_text: str) -> None:
        """Raise :class:`pgkd.errors.LeakageError` if the prompt contains a held-out passage."""
        ...


class NoHeldOut:
    """The check of a context that was given no held-out texts: nothing is a copy, nothing
    leaks. Tests and tools that build a :class:`StepContext` by hand get it by default."""

    def copy_kind(self, text: str) -> str | None:
        return None

    def leaks(self, text: str) -> bool:
        return False

    def check_prompt(self, prompt_text: str) -> None:
        return None


@dataclass(slots=True)
class StepContext:
    """Everything a hook may look at while a KD step is prepared.

    ``step`` is the KD step being prepared (1-based). ``task`` is the run's task and
    ``settings`` the run's validated config (a plugin reads its options from
    ``settings.plugins.options.get(name, {})``). ``validation`` holds only aggregate
    validation numbers: validation and test *samples* are deliberately absent; ``guard``
    answers whether a text copies them. ``history`` is the training history (seed plus
    accepted teacher samples) and ``train_predictions`` the current student's predictions on
    it, aligned by index: out of fold when the task and student can make them (``[kd]
    train_predictions``), so a student that fits its history still shows its mistakes.
    ``val_losses`` are the validation losses of every student evaluated so far, model_0 first;
    by ``on_step_end`` it ends with the step's new student.

    ``report`` and ``examples`` collect what ``on_eval`` and ``select_examples`` returned, for
    ``build_prompt``. Every field but ``run_state`` is rebuilt for every step; a plugin that
    keeps a cache of its own keeps it on itself.

    ``run_state`` is a plugin's memory across steps, one key per plugin (its name, by
    convention) holding JSON values only: dicts with string keys, lists, strings, finite
    numbers, booleans and ``None``. Every hook of a step sees the same dict. When the step
    completes, pgkd journals it with the step's other records and hands the next step the value
    read back from JSON (a tuple comes back a list), so an uninterrupted run and a resumed one
    see the same thing; ``pgkd resume`` starts from the last completed step's value, and a step
    that did not complete leaves no trace in it.
    """

    step: int
    task: Task
    labels: tuple[str, ...]
    history: Sequence[Sample]
    train_predictions: Sequence[Prediction]
    validation: Evaluation
    settings: Config
    seed: int
    report: dict[str, str] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    #: Validation loss of every student evaluated so far (model_0 first).
    val_losses: tuple[float, ...] = ()
    #: Answers "is this text a copy of validation/test text?" without exposing those texts.
    guard: HeldOutCheck = field(default_factory=NoHeldOut)
    #: Plugins' state across steps, kept in the run directory (see above).
    run_state: dict[str, JsonValue] = field(default_factory=dict)
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
    #: The step's fill ran out of teacher budget (``[teacher] max_cost_usd`` / ``max_calls``):
    #: the pool sends no further call, so the built-in early stopping ends the run here.
    teacher_budget_exhausted: bool = False
