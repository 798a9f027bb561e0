"""The student's predictions on its own training history, which the selection built-ins mine.

A student scored on the samples it was fitted on may get every one right (the frozen student
does on most data sets), leaving no misclassified examples or hard negatives to show the
teacher. Out-of-fold predictions score each history sample with a model fitted on the other
folds instead. ``[kd] train_predictions`` picks the kind: ``auto`` is out of fold when the task
and the student can do it cheaply, in sample otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pgkd.config import KDConfig
from pgkd.errors import ConfigError
from pgkd.students.base import Student
from pgkd.tasks.base import Task, offers_out_of_fold
from pgkd.types import Prediction, Sample

AUTO = "auto"
IN_SAMPLE = "in_sample"
OUT_OF_FOLD = "out_of_fold"


def can_predict_out_of_fold(task: Task, student: Student) -> bool:
    return student.predicts_out_of_fold and offers_out_of_fold(task)


def choose_kind(kd: KDConfig, task: Task, student: Student) -> str:
    """``in_sample`` or ``out_of_fold`` for ``student``; checked before it is fitted."""
    able = can_predict_out_of_fold(task, student)
    if kd.train_predictions == AUTO:
        return OUT_OF_FOLD if able else IN_SAMPLE
    if kd.train_predictions == OUT_OF_FOLD and not able:
        raise ConfigError(
            f"[kd] train_predictions: the {student.kind!r} student on the {task.name!r} task "
            'cannot predict out of fold; set train_predictions = "auto" or "in_sample"'
        )
    return kd.train_predictions


def predict_history(
    task: Task,
    student: Student,
    history: Sequence[Sample],
    labels: Sequence[str],
    kind: str,
    *,
    folds: int,
    seed: int,
) -> tuple[list[Prediction], str]:
    """Predictions aligned with ``history`` and the kind they are. Out of fold falls back to
    in sample when the student declines (a history too small to split)."""
    if kind == OUT_OF_FOLD and offers_out_of_fold(task):
        predictions = task.out_of_fold_predictions(student, history, labels, folds=folds, seed=seed)
        if predictions is not None:
            return predictions, OUT_OF_FOLD
    return task.evaluate(student, history, labels)[1], IN_SAMPLE


def describe(predictions: Sequence[Prediction], kind: str, folds: int) -> dict[str, Any]:
    """The metrics-line record of how the history was scored."""
    record: dict[str, Any] = {"kind": kind}
    if kind == OUT_OF_FOLD:
        record["folds"] = folds
    record["misclassified"] = sum(not p.correct for p in predictions)
    return record
