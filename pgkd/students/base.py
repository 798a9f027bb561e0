"""The student interface the loop and the classification task rely on."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from pgkd.types import JsonValue, Sample

#: Called by long work with (done, total, description); the CLI turns it into a progress bar.
ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True, slots=True)
class StudentSettings:
    """The ``[student]`` config section as a student sees it."""

    kind: str
    backbone: str | None = None
    max_length: int = 512
    batch_size: int = 64
    learning_rate: float = 2e-5
    epochs: int = 30
    patience: int = 5
    threads: int | None = None
    #: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (:mod:`pgkd.students.device`).
    device: str = "auto"
    #: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (:mod:`pgkd.students.device`).
    precision: str = "auto"
    options: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FitReport:
    epochs_run: int
    best_epoch: int
    best_validation_loss: float
    seconds: float


class Student(abc.ABC):
    """A model that learns from samples and can be saved and loaded back. What it predicts is
    the task's business: the task's ``evaluate`` calls the task-specific methods."""

    kind: str = ""
    #: True when the student can score its own training history out of fold cheaply (for a
    #: classifier: implements :meth:`ClassifierStudent.out_of_fold_proba`). ``[kd]
    #: train_predictions = "auto"`` then mines mistakes from those held-out predictions.
    predicts_out_of_fold: ClassVar[bool] = False

    def __init__(self, settings: StudentSettings, labels: Sequence[str], seed: int) -> None:
        self.settings = settings
        self.labels = tuple(labels)
        self.seed = seed

    @abc.abstractmethod
    def fit(
        self,
        train: Sequence[Sample],
        validation: Sequence[Sample],
        progress: ProgressCallback | None = None,
    ) -> FitReport:
        """Train from scratch on ``train``, early-stopping on loss over ``validation``."""

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Write the model so :meth:`load` (and, for transformer students, a plain
        ``transformers.pipeline``) can read it back."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: Path) -> Student:
        """Read a model written by :meth:`save`."""


class ClassifierStudent(Student):
    """A single-label text classifier; ``labels`` fixes the column order of probabilities."""

    @abc.abstractmethod
    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Class probabilities, shape ``(len(texts), len(labels))``."""

    def out_of_fold_proba(
        self, train: Sequence[Sample], folds: int, seed: int
    ) -> npt.NDArray[np.float32] | None:
        """Held-out class probabilities on ``train`` (the history :meth:`fit` just saw): each
        row comes from a model fitted, the way :meth:`fit` fitted this one, on the other
        ``folds - 1`` stratified folds. Shape ``(len(train), len(labels))``.

        ``None``, the default, means the student cannot do it cheaply (a fine-tuned transformer
        would train ``folds`` more times); the runner then uses in-sample predictions. A student
        that overrides this sets :attr:`predicts_out_of_fold`."""
        return None


class StudentClass(Protocol):
    """What ``register_students`` registers for a kind: called with ``(settings, labels,
    seed)`` it builds a student, and ``load(directory)`` reads a saved one back. A
    :class:`Student` subclass is one; so is :class:`pgkd.students.registry.LazyStudentClass`,
    which imports the class (and torch with it) only when first used."""

    def __call__(self, settings: StudentSettings, labels: Sequence[str], seed: int) -> Student:
        """A new, untrained student."""
        ...

    def load(self, directory: Path) -> Student:
        """A student written by its ``save``."""
        ...
