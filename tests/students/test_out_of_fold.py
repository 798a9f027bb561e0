"""Out-of-fold predictions on the training history: the frozen student refits its head per fold,
so the selection built-ins find mistakes a student that fits its history perfectly never makes."""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pgkd.builtin.selection import CorrectIncorrectSelector, HardNegativeMiner
from pgkd.config import KDConfig
from pgkd.students.base import StudentSettings
from pgkd.students.folds import stratified_folds
from pgkd.students.frozen import FrozenEncoderStudent
from pgkd.tasks.classification import ClassificationTask
from pgkd.testing import shared_datasets
from pgkd.types import Evaluation, Prediction, Sample, StepContext

HUFFPOST = shared_datasets() / "huffpost" / "train.jsonl.gz"
ToySamples = Callable[[int, int], list[Sample]]


def frozen(backbone: Path | None, labels: Sequence[str], seed: int = 0) -> FrozenEncoderStudent:
    settings = StudentSettings(
        kind="frozen", backbone=None if backbone is None else str(backbone), threads=1
    )
    return FrozenEncoderStudent(settings, labels, seed)


def huffpost_slice(rows: int) -> list[Sample]:
    if not HUFFPOST.is_file():
        pytest.skip(f"{HUFFPOST}: the shared benchmark data sets are not on this machine")
    samples = []
    with gzip.open(HUFFPOST, "rt", encoding="utf-8") as fh:
        for line, _ in zip(fh, range(rows), strict=False):
            record = json.loads(line)
            samples.append(Sample(record["text"], record["label"]))
    return samples


def context(history: Sequence[Sample], predictions: Sequence[Prediction]) -> StepContext:
    return StepContext(
        step=1,
        task=ClassificationTask(),
        labels=(),
        history=history,
        train_predictions=predictions,
        validation=Evaluation(loss=0.0, metrics={}, per_class={}),
        settings=SimpleNamespace(kd=KDConfig()),
        seed=0,
    )


def test_out_of_fold_predictions_find_the_mistakes_in_sample_ones_hide() -> None:
    samples = huffpost_slice(300)
    train, validation = samples[:240], samples[240:]
    labels = sorted({s.target for s in samples})
    student = frozen(None, labels)
    student.fit(train, validation)
    task = ClassificationTask()
    _, in_sample = task.evaluate(student, train, labels)
    started = time.perf_counter()
    out_of_fold = task.out_of_fold_predictions(student, train, labels, folds=5, seed=0)
    seconds = time.perf_counter() - started
    assert out_of_fold is not None and len(out_of_fold) == len(train)
    assert sum(not p.correct for p in in_sample) <= 2
    # A 41-class head on 240 headlines gets most held-out headlines wrong.
    assert sum(not p.correct for p in out_of_fold) >= 60
    assert seconds < 5.0

    assert HardNegativeMiner().select_examples(context(train, in_sample))["hard_negatives"] == []
    hard = HardNegativeMiner().select_examples(context(train, out_of_fold))["hard_negatives"]
    assert len(hard) == 16
    confidences = [e.prediction.confidence for e in hard if e.prediction is not None]
    assert confidences == sorted(confidences, reverse=True)
    assert all(e.prediction is not None and e.prediction.target != e.sample.target for e in hard)
    lists = CorrectIncorrectSelector().select_examples(context(train, out_of_fold))
    assert len(lists["incorrect"]) == 16 and len(lists["correct"]) == 16


def test_each_row_comes_from_a_head_that_never_saw_it(
    tiny_bert: Path, toy_samples: ToySamples
) -> None:
    # "weather" has one sample: in sample it is learnt, out of fold its class was never seen.
    train = [*toy_samples(40, 1), Sample("rain and wind all week", "weather")]
    labels = ("sports", "finance", "weather")
    student = frozen(tiny_bert, labels)
    student.fit(train, toy_samples(10, 2))
    in_sample = student.predict_proba([s.text for s in train])
    out_of_fold = student.out_of_fold_proba(train, folds=5, seed=0)
    assert out_of_fold is not None and out_of_fold.shape == (41, 3)
    np.testing.assert_allclose(out_of_fold.sum(axis=1), 1.0, atol=1e-5)
    assert in_sample[-1, 2] > 0.5 and out_of_fold[-1, 2] < 1e-6
    assert student.cache.encoded == 51  # the folds reuse the cached embeddings


def test_out_of_fold_is_seeded_and_needs_a_fit(tiny_bert: Path, toy_samples: ToySamples) -> None:
    labels = ("sports", "finance")
    student = frozen(tiny_bert, labels)
    with pytest.raises(RuntimeError, match=r"call fit\(\) first"):
        student.out_of_fold_proba(toy_samples(10, 1), folds=5, seed=0)
    train = toy_samples(30, 1)
    student.fit(train, toy_samples(10, 2))
    first = student.out_of_fold_proba(train, folds=5, seed=3)
    again = student.out_of_fold_proba(train, folds=5, seed=3)
    assert first is not None and again is not None
    np.testing.assert_array_equal(first, again)
    # More folds than samples: one sample per fold (leave one out); one sample cannot be split.
    assert student.out_of_fold_proba(train[:3], folds=5, seed=0) is not None
    assert student.out_of_fold_proba(train[:1], folds=5, seed=0) is None


def test_stratified_folds_spread_every_class_and_tolerate_rare_ones() -> None:
    classes = [0] * 50 + [1] * 23 + [2] * 2 + [3]
    folds = stratified_folds(classes, 5, seed=0)
    sizes = Counter(folds.tolist())
    assert sorted(sizes) == [0, 1, 2, 3, 4] and max(sizes.values()) - min(sizes.values()) <= 1
    for label in (0, 1):
        per_fold = Counter(f for f, c in zip(folds, classes, strict=True) if c == label)
        assert max(per_fold.values()) - min(per_fold.values()) <= 1
    assert len({folds[50 + 23], folds[50 + 24]}) == 2  # the two-member class is split
    np.testing.assert_array_equal(folds, stratified_folds(classes, 5, seed=0))
    assert not np.array_equal(folds, stratified_folds(classes, 5, seed=1))
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(classes, 1, seed=0)
