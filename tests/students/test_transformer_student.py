from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pgkd.errors import RunDirError
from pgkd.students.base import StudentSettings
from pgkd.students.loading import MARKER, load_student
from pgkd.students.training import bucketed_batches
from pgkd.students.transformer import TransformerStudent
from pgkd.types import Sample

LABELS = ("sports", "finance", "weather")
ToySamples = Callable[[int, int], list[Sample]]


def tiny_student(backbone: Path, seed: int = 0, **overrides: Any) -> TransformerStudent:
    """Settings for a random-init tiny BERT: it needs a far higher learning rate than the
    paper's 2e-5 for a pretrained one. One thread: two are many times slower when another
    process keeps the second core busy."""
    values: dict[str, Any] = {
        "kind": "transformer",
        "backbone": str(backbone),
        "learning_rate": 1e-2,
        "batch_size": 16,
        "epochs": 8,
        "threads": 1,
        "patience": 2,
        "max_length": 32,
        **overrides,
    }
    return TransformerStudent(StudentSettings(**values), LABELS, seed)


def texts(samples: Sequence[Sample]) -> list[str]:
    return [s.text for s in samples]


@pytest.fixture(scope="module")
def trained(tiny_bert: Path, toy_samples: ToySamples) -> TransformerStudent:
    student = tiny_student(tiny_bert)
    student.fit(toy_samples(96, 1), toy_samples(24, 2))
    return student


def test_learns_a_separable_task(trained: TransformerStudent, toy_samples: ToySamples) -> None:
    test = toy_samples(40, 3)
    proba = trained.predict_proba(texts(test))
    assert proba.dtype == np.float32 and proba.shape == (40, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predicted = [LABELS[i] for i in proba.argmax(axis=1)]
    assert np.mean([p == s.target for p, s in zip(predicted, test, strict=True)]) >= 0.9
    assert proba[:, LABELS.index("weather")].max() < 0.2


def test_save_load_and_pipeline(
    trained: TransformerStudent, toy_samples: ToySamples, tmp_path: Path
) -> None:
    from transformers import pipeline

    query = texts(toy_samples(8, 3))
    trained.save(tmp_path / "model")
    assert json.loads((tmp_path / "model" / MARKER).read_text())["kind"] == "transformer"
    expected = trained.predict_proba(query)
    for loaded in (TransformerStudent.load(tmp_path / "model"), load_student(tmp_path / "model")):
        assert isinstance(loaded, TransformerStudent) and loaded.labels == LABELS
        np.testing.assert_allclose(loaded.predict_proba(query), expected, atol=1e-6)
    classify = pipeline("text-classification", model=str(tmp_path / "model"), device="cpu")
    answers = classify(query)
    assert [a["label"] for a in answers] == [LABELS[i] for i in expected.argmax(axis=1)]


def test_early_stopping_keeps_the_best_epoch(tiny_bert: Path, toy_samples: ToySamples) -> None:
    """Validation labels are the opposite of the training labels, so validation loss rises
    as soon as the model learns anything."""
    train = toy_samples(48, 1)
    swap = {"sports": "finance", "finance": "sports"}
    validation = [Sample(s.text, swap[s.target]) for s in toy_samples(16, 2)]
    student = tiny_student(tiny_bert, epochs=30, patience=2)
    report = student.fit(train, validation)
    assert report.epochs_run == report.best_epoch + 2 < 30
    proba = student.predict_proba(texts(validation))
    targets = [LABELS.index(s.target) for s in validation]
    restored = -np.mean(np.log(proba[np.arange(len(targets)), targets]))
    assert math.isclose(restored, report.best_validation_loss, rel_tol=1e-4)


def test_seeded_fits_are_reproducible(tiny_bert: Path, toy_samples: ToySamples) -> None:
    query = texts(toy_samples(8, 3))
    runs = []
    for seed in (5, 5, 6):
        student = tiny_student(tiny_bert, seed=seed, epochs=2)
        student.fit(toy_samples(32, 1), toy_samples(8, 2))
        runs.append(student.predict_proba(query))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_bf16_autocast_trains(tiny_bert: Path, toy_samples: ToySamples) -> None:
    student = tiny_student(tiny_bert, epochs=1, options={"bf16": True})
    report = student.fit(toy_samples(32, 1), toy_samples(8, 2))
    assert report.epochs_run == 1 and math.isfinite(report.best_validation_loss)
    assert student.predict_proba(["goal"]).dtype == np.float32


def test_no_validation_trains_every_epoch(tiny_bert: Path, toy_samples: ToySamples) -> None:
    report = tiny_student(tiny_bert, epochs=2).fit(toy_samples(16, 1), [])
    assert report.epochs_run == report.best_epoch == 2
    assert math.isnan(report.best_validation_loss)


def test_bucketed_batches_cover_every_index_once() -> None:
    lengths = [i % 7 for i in range(50)]
    batches = bucketed_batches(lengths, 4, torch.Generator().manual_seed(0))
    assert sorted(i for batch in batches for i in batch) == list(range(50))
    assert all(len(batch) <= 4 for batch in batches)


def test_load_student_needs_a_marker(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=MARKER):
        load_student(tmp_path)
