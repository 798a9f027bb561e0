"""Entity-level scores: a predicted entity counts only when its start, end and type all match a
gold entity exactly (the CoNLL convention)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pgkd import ClassScore, Evaluation

from pgkd_ner.spans import Span


@dataclass(frozen=True, slots=True)
class EntityCounts:
    """True positives, predicted and gold entities per type, and exactly right sentences."""

    true_positive: Counter[str]
    predicted: Counter[str]
    gold: Counter[str]
    exact_sentences: int
    sentences: int


def count_entities(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]]
) -> EntityCounts:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predictions")
    tp: Counter[str] = Counter()
    pred: Counter[str] = Counter()
    true: Counter[str] = Counter()
    exact = 0
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        gold_set, pred_set = set(gold_spans), set(pred_spans)
        tp.update(span.label for span in gold_set & pred_set)
        pred.update(span.label for span in pred_set)
        true.update(span.label for span in gold_set)
        exact += gold_set == pred_set
    return EntityCounts(tp, pred, true, exact, len(gold))


def _prf(tp: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def per_type_scores(counts: EntityCounts, labels: Sequence[str]) -> dict[str, ClassScore]:
    scores: dict[str, ClassScore] = {}
    for label in labels:
        p, r, f = _prf(counts.true_positive[label], counts.predicted[label], counts.gold[label])
        scores[label] = ClassScore(precision=p, recall=r, f1=f, support=counts.gold[label])
    return scores


def entity_metrics(counts: EntityCounts, per_type: dict[str, ClassScore]) -> dict[str, float]:
    """Micro precision/recall/F1 over all entities, macro F1 over the types that occur in gold,
    and ``accuracy`` as the share of sentences whose entities are all exactly right."""
    p, r, f = _prf(
        sum(counts.true_positive.values()),
        sum(counts.predicted.values()),
        sum(counts.gold.values()),
    )
    present = [score.f1 for score in per_type.values() if score.support > 0]
    return {
        "f1": f,
        "precision": p,
        "recall": r,
        "macro_f1": sum(present) / len(present) if present else 0.0,
        "accuracy": counts.exact_sentences / counts.sentences if counts.sentences else 0.0,
    }


def type_confusion(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], labels: Sequence[str]
) -> tuple[tuple[int, ...], ...]:
    """``matrix[i][j]``: gold entities of type ``labels[i]`` predicted with the same boundaries
    as type ``labels[j]``. Missed and spurious entities are not in it."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        by_bounds = {(s.start, s.end): s.label for s in pred_spans}
        for span in gold_spans:
            guess = by_bounds.get((span.start, span.end))
            if guess in index and span.label in index:
                matrix[index[span.label]][index[guess]] += 1
    return tuple(tuple(row) for row in matrix)


def score_entities(
    gold: Sequence[Sequence[Span]],
    predicted: Sequence[Sequence[Span]],
    labels: Sequence[str],
    loss: float,
) -> Evaluation:
    """The task's :class:`Evaluation`: per-type scores in ``per_class``, micro/macro numbers in
    ``metrics``, the type confusion matrix, and the given token-level ``loss``."""
    counts = count_entities(gold, predicted)
    per_type = per_type_scores(counts, labels)
    return Evaluation(
        loss=loss,
        metrics=entity_metrics(counts, per_type),
        per_class=per_type,
        labels=tuple(labels),
        confusion=type_confusion(gold, predicted, labels),
    )
