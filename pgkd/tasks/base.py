"""A task says what a sample is and how a student is scored; the loop knows nothing else of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeAlias, TypeGuard

from pgkd.students.base import Student
from pgkd.types import Evaluation, JsonValue, Prediction, Sample


class Task(Protocol):
    """What the loop needs of a task. A task may also be an :class:`OutOfFoldTask`: one that
    predicts its training history out of fold (see ``[kd] train_predictions``); without that
    the history is scored in sample with :meth:`evaluate`."""

    name: str
    #: The fewest distinct labels a training set must have (a classifier needs two; an
    #: extraction task may do with one entity type).
    min_labels: int

    def parse_record(self, record: Mapping[str, JsonValue], *, origin: str, step: int) -> Sample:
        """Turn one JSON/CSV record into a sample; raise ``ValueError`` with a one-line reason
        (naming the fields found) when it does not fit the task's schema."""
        ...

    def to_record(self, sample: Sample) -> dict[str, JsonValue]:
        """The inverse of :meth:`parse_record`: the JSON form written to disk and shown to
        teachers."""
        ...

    def labels_of(self, samples: Sequence[Sample]) -> tuple[str, ...]:
        """The label taxonomy (sorted) that ``samples`` use."""
        ...

    def label_errors(self, sample: Sample, labels: Sequence[str]) -> str | None:
        """Why ``sample`` uses a label outside ``labels``, or None if it does not."""
        ...

    def stratum(self, sample: Sample) -> str:
        """The key a stratified split groups by."""
        ...

    def answer_schema(self, n_samples: int, labels: Sequence[str]) -> dict[str, JsonValue]:
        """JSON schema of a teacher answer holding ``n_samples`` samples."""
        ...

    def evaluate(
        self, student: Student, samples: Sequence[Sample], labels: Sequence[str]
    ) -> tuple[Evaluation, list[Prediction]]:
        """Score ``student`` on ``samples``: aggregate numbers plus one prediction per sample."""
        ...


class OutOfFoldTask(Task, Protocol):
    """A task that can score its training history out of fold."""

    def out_of_fold_predictions(
        self,
        student: Student,
        samples: Sequence[Sample],
        labels: Sequence[str],
        *,
        folds: int,
        seed: int,
    ) -> list[Prediction] | None:
        """One prediction per sample of ``samples`` (the history ``student`` was fitted on),
        each made by a model that did not train on it; ``None`` when ``student`` cannot."""
        ...


def offers_out_of_fold(task: Task) -> TypeGuard[OutOfFoldTask]:
    """True when ``task`` offers ``out_of_fold_predictions``."""
    return callable(getattr(task, "out_of_fold_predictions", None))


#: What ``register_tasks`` registers for a task name: called with no arguments, it returns
#: the task (a class implementing :class:`Task` is one).
TaskFactory: TypeAlias = Callable[[], Task]
