"""Single-label text classification: a sample is ``{"text": str, "label": str}``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pgkd.hookspecs import hookimpl
from pgkd.students.base import ClassifierStudent, Student
from pgkd.tasks.base import TaskFactory
from pgkd.types import ClassScore, Evaluation, JsonValue, Prediction, Sample


class ClassificationTask:
    name = "classification"
    min_labels = 2

    def parse_record(self, record: Mapping[str, JsonValue], *, origin: str, step: int) -> Sample:
        missing = [key for key in ("text", "label") if key not in record]
        if missing:
            found = ", ".join(sorted(map(str, record))) or "none"
            raise ValueError(
                f"missing field(s) {', '.join(missing)} (fields found: {found}); "
                "set [data] text_field / label_field to the right names"
            )
        text, label = record["text"], record["label"]
        if not isinstance(text, str):
            raise ValueError(f"'text' must be a string, got {type(text).__name__}")
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise ValueError(f"'label' must be a string, got {type(label).__name__}")
        label = str(label).strip()
        if not text.strip():
            raise ValueError("'text' is empty; drop the row or fill it in")
        if not label:
            raise ValueError("'label' is empty; drop the row or fill it in")
        return Sample(text=text, target=label, origin=origin, step=step)

    def to_record(self, sample: Sample) -> dict[str, JsonValue]:
        return {"text": sample.text, "label": sample.target}

    def labels_of(self, samples: Sequence[Sample]) -> tuple[str, ...]:
        return tuple(sorted({str(s.target) for s in samples}))

    def label_errors(self, sample: Sample, labels: Sequence[str]) -> str | None:
        if sample.target in labels:
            return None
        return f"label {sample.target!r} is outside the taxonomy"

    def stratum(self, sample: Sample) -> str:
        return str(sample.target)

    def answer_schema(self, n_samples: int, labels: Sequence[str]) -> dict[str, JsonValue]:
        return {
            "type": "array",
            "minItems": n_samples,
            "maxItems": n_samples,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 1},
                    "label": {"type": "string", "enum": list(labels)},
                },
                "required": ["text", "label"],
                "additionalProperties": False,
            },
        }

    def evaluate(
        self, student: Student, samples: Sequence[Sample], labels: Sequence[str]
    ) -> tuple[Evaluation, list[Prediction]]:
        if not isinstance(student, ClassifierStudent):
            raise TypeError(f"classification needs a ClassifierStudent, got {type(student)}")
        probs = student.predict_proba([s.text for s in samples])
        return score_probabilities(probs, [str(s.target) for s in samples], labels)

    def out_of_fold_predictions(
        self,
        student: Student,
        samples: Sequence[Sample],
        labels: Sequence[str],
        *,
        folds: int,
        seed: int,
    ) -> list[Prediction] | None:
        """Predictions on ``samples`` (the history ``student`` was fitted on), each made by a
        model that did not train on it; None when the student cannot make them."""
        if not isinstance(student, ClassifierStudent):
            return None
        probs = student.out_of_fold_proba(samples, folds, seed)
        if probs is None:
            return None
        return score_probabilities(probs, [str(s.target) for s in samples], labels)[1]


def score_probabilities(
    probs: np.ndarray[Any, Any], gold: Sequence[str], labels: Sequence[str]
) -> tuple[Evaluation, list[Prediction]]:
    """Cross-entropy loss, accuracy, macro/weighted F1, per-class scores and the confusion
    matrix from predicted probabilities (columns in ``labels`` order)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([index[g] for g in gold], dtype=np.int64)
    y_pred = probs.argmax(axis=1) if len(gold) else np.zeros(0, dtype=np.int64)
    picked = probs[np.arange(len(gold)), y_true] if len(gold) else np.zeros(0)
    loss = float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if len(gold) else 0.0
    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0.0)
    support = np.asarray(s)
    present = support > 0
    weights = support / support.sum() if support.sum() else support
    metrics = {
        "accuracy": float((y_true == y_pred).mean()) if len(gold) else 0.0,
        "macro_f1": float(np.asarray(f)[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((np.asarray(f) * weights).sum()),
    }
    per_class = {
        label: ClassScore(float(p[i]), float(r[i]), float(f[i]), int(support[i]))
        for i, label in enumerate(labels)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=ids)
    evaluation = Evaluation(
        loss=loss,
        metrics=metrics,
        per_class=per_class,
        labels=tuple(labels),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
    )
    predictions = [
        Prediction(
            target=labels[int(y_pred[i])],
            confidence=float(probs[i, y_pred[i]]),
            correct=bool(y_pred[i] == y_true[i]),
        )
        for i in range(len(gold))
    ]
    return evaluation, predictions


@hookimpl(trylast=True)
def register_tasks(register: Callable[[str, TaskFactory], None]) -> None:
    register("classification", ClassificationTask)
