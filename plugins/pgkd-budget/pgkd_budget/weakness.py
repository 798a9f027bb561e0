"""How weak the student is on each class, from numbers that are safe to read in a KD step.

A 200-sample validation set gives about five samples per class at 41 classes, so a raw
per-class F1 is mostly noise. Every per-class rate here is shrunk toward the mean over classes
(empirical-Bayes style) by how many samples it rests on, and the validation signal is joined by
the student's errors on its own, much larger, training history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pgkd import Evaluation, Prediction, Sample

from pgkd_budget.options import BudgetOptions

__all__ = [
    "ClassWeakness",
    "ConfusedPair",
    "class_prior",
    "class_weakness",
    "confused_pairs",
    "normalise",
    "shrink",
]


@dataclass(frozen=True, slots=True)
class ConfusedPair:
    """Samples of ``true`` the student labelled ``predicted``, on validation and in training."""

    true: str
    predicted: str
    validation: int
    training: int

    @property
    def errors(self) -> int:
        return self.validation + self.training


@dataclass(frozen=True, slots=True)
class ClassWeakness:
    """One class's shrunk rates and its combined weakness (``score`` sums to 1 over classes)."""

    label: str
    f1: float
    recall: float
    train_error: float
    confusion: int
    score: float


def shrink(value: float, count: float, mean: float, strength: float) -> float:
    """``value`` measured on ``count`` samples, pulled toward ``mean`` as if ``strength`` more
    samples at the mean had been seen: ``(count * value + strength * mean) / (count +
    strength)``."""
    total = count + strength
    return mean if total <= 0 else (count * value + strength * mean) / total


def normalise(values: Mapping[str, float]) -> dict[str, float]:
    """``values`` scaled to sum to 1 (all zeros stay zero)."""
    total = sum(values.values())
    return {key: (value / total if total > 0 else 0.0) for key, value in values.items()}


def class_prior(history: Sequence[Sample], labels: Sequence[str]) -> dict[str, float]:
    """Add-one smoothed class frequencies of the seed data (of the whole history if it holds
    no seed samples): the class mix an unguided teacher would write."""
    seed = [s for s in history if s.origin == "seed"] or list(history)
    counts = Counter(str(s.target) for s in seed)
    total = sum(counts[label] for label in labels) + len(labels)
    return {label: (counts[label] + 1) / total for label in labels}


def confused_pairs(
    validation: Evaluation,
    history: Sequence[Sample],
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    *,
    top: int,
    min_errors: int,
) -> list[ConfusedPair]:
    """The ``top`` (true, predicted) pairs with the most errors, counting the validation
    confusion matrix (rows true, columns predicted, in ``validation.labels`` order) and the
    student's mistakes on its training history; most errors first, ties in label order."""
    known = set(labels)
    val: Counter[tuple[str, str]] = Counter()
    names = validation.labels
    for i, row in enumerate(validation.confusion):
        for j, count in enumerate(row):
            if i != j and count > 0 and names[i] in known and names[j] in known:
                val[names[i], names[j]] += count
    train: Counter[tuple[str, str]] = Counter()
    if len(history) == len(predictions):
        for sample, prediction in zip(history, predictions, strict=True):
            true, predicted = str(sample.target), str(prediction.target)
            if not prediction.correct and true in known and predicted in known:
                train[true, predicted] += 1
    order = {label: i for i, label in enumerate(labels)}
    pairs = [
        ConfusedPair(true, predicted, val[true, predicted], train[true, predicted])
        for true, predicted in set(val) | set(train)
    ]
    pairs = [p for p in pairs if p.errors >= max(1, min_errors)]
    pairs.sort(key=lambda p: (-p.errors, -p.validation, order[p.true], order[p.predicted]))
    return pairs[:top]


def _validation_rates(
    validation: Evaluation, labels: Sequence[str], strength: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Shrunk validation F1 and recall per label."""
    scores = validation.per_class
    seen = [s for s in scores.values() if s.support > 0]
    mean_f1 = sum(s.f1 for s in seen) / len(seen) if seen else 0.0
    mean_recall = sum(s.recall for s in seen) / len(seen) if seen else 0.0
    f1: dict[str, float] = {}
    recall: dict[str, float] = {}
    for label in labels:
        score = scores.get(label)
        if score is None or score.support <= 0:
            f1[label], recall[label] = mean_f1, mean_recall
            continue
        f1[label] = shrink(score.f1, score.support, mean_f1, strength)
        recall[label] = shrink(score.recall, score.support, mean_recall, strength)
    return f1, recall


def _train_error_rates(
    history: Sequence[Sample],
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    strength: float,
) -> dict[str, float]:
    """Each label's shrunk error rate on the training history (zeros when the predictions do
    not line up with the history)."""
    if not history or len(history) != len(predictions):
        return dict.fromkeys(labels, 0.0)
    seen: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for sample, prediction in zip(history, predictions, strict=True):
        seen[str(sample.target)] += 1
        wrong[str(sample.target)] += not prediction.correct
    mean = sum(wrong.values()) / sum(seen.values())
    return {
        label: shrink(
            wrong[label] / seen[label] if seen[label] else mean, seen[label], mean, strength
        )
        for label in labels
    }


def class_weakness(
    validation: Evaluation,
    history: Sequence[Sample],
    predictions: Sequence[Prediction],
    labels: Sequence[str],
    options: BudgetOptions,
    pairs: Sequence[ConfusedPair] = (),
) -> dict[str, ClassWeakness]:
    """Every label's shrunk rates and combined weakness. A signal that is zero for every
    class (no confusions, say) hands its weight to the others; with no signal at all every
    class is equally weak."""
    f1, recall = _validation_rates(validation, labels, options.prior_strength)
    train_error = _train_error_rates(history, predictions, labels, options.train_prior_strength)
    confusion: Counter[str] = Counter()
    for pair in pairs:
        confusion[pair.true] += pair.errors
    signals = (
        (options.f1_weight, normalise({c: 1.0 - f1[c] for c in labels})),
        (options.recall_weight, normalise({c: 1.0 - recall[c] for c in labels})),
        (options.train_error_weight, normalise(train_error)),
        (options.confusion_weight, normalise({c: float(confusion[c]) for c in labels})),
    )
    live = [(weight, signal) for weight, signal in signals if weight > 0 and any(signal.values())]
    total_weight = sum(weight for weight, _ in live)
    scores = {
        c: (
            sum(weight * signal[c] for weight, signal in live) / total_weight
            if total_weight > 0
            else 1.0 / len(labels)
        )
        for c in labels
    }
    return {
        c: ClassWeakness(c, f1[c], recall[c], train_error[c], confusion[c], scores[c])
        for c in labels
    }
