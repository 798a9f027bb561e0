from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from pgkd.students.base import StudentSettings
from pgkd.students.frozen import FrozenEncoderStudent, LinearHead, fit_head
from pgkd.students.loading import MARKER, load_student
from pgkd.types import Sample

LABELS = ("sports", "finance", "weather")
ToySamples = Callable[[int, int], list[Sample]]


def frozen(
    backbone: Path | None, labels: Sequence[str] = LABELS, seed: int = 0
) -> FrozenEncoderStudent:
    settings = StudentSettings(
        kind="frozen", backbone=None if backbone is None else str(backbone), threads=1
    )
    return FrozenEncoderStudent(settings, labels, seed)


def accuracy(
    proba: npt.NDArray[np.float32], labels: Sequence[str], samples: Sequence[Sample]
) -> float:
    predicted = [labels[i] for i in proba.argmax(axis=1)]
    return float(np.mean([p == s.target for p, s in zip(predicted, samples, strict=True)]))


def texts(samples: Sequence[Sample]) -> list[str]:
    return [s.text for s in samples]


def test_learns_a_separable_task_with_the_tiny_encoder(
    tiny_bert: Path, toy_samples: ToySamples
) -> None:
    student = frozen(tiny_bert)
    report = student.fit(toy_samples(80, 1), toy_samples(20, 2))
    test = toy_samples(40, 3)
    proba = student.predict_proba(texts(test))
    assert proba.dtype == np.float32 and proba.shape == (40, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert accuracy(proba, LABELS, test) >= 0.9
    assert 1 <= report.best_epoch <= report.epochs_run and report.best_validation_loss < math.log(2)


def test_label_without_samples_gets_about_zero(tiny_bert: Path, toy_samples: ToySamples) -> None:
    student = frozen(tiny_bert)
    student.fit(toy_samples(40, 1), toy_samples(10, 2))
    proba = student.predict_proba(texts(toy_samples(10, 3)))
    assert proba[:, LABELS.index("weather")].max() < 1e-6


def test_columns_follow_the_label_order(tiny_bert: Path, toy_samples: ToySamples) -> None:
    train, validation, test = toy_samples(40, 1), toy_samples(10, 2), toy_samples(10, 3)
    forward, backward = frozen(tiny_bert), frozen(tiny_bert, LABELS[::-1])
    forward.fit(train, validation)
    backward.fit(train, validation)
    a, b = forward.predict_proba(texts(test)), backward.predict_proba(texts(test))
    np.testing.assert_allclose(a, b[:, ::-1], atol=1e-5)


def test_save_load_round_trip(tiny_bert: Path, toy_samples: ToySamples, tmp_path: Path) -> None:
    student = frozen(tiny_bert)
    student.fit(toy_samples(40, 1), toy_samples(10, 2))
    query = texts(toy_samples(10, 3))
    student.save(tmp_path / "model")
    names = {p.name for p in (tmp_path / "model").iterdir()}
    assert {"head.safetensors", MARKER, "model_head.pkl", "config_setfit.json"} <= names
    assert {"modules.json", "config.json", "model.safetensors", "tokenizer.json"} <= names
    marker = json.loads((tmp_path / "model" / MARKER).read_text())
    assert marker["kind"] == "frozen" and marker["labels"] == list(LABELS)
    for loaded in (FrozenEncoderStudent.load(tmp_path / "model"), load_student(tmp_path / "model")):
        assert isinstance(loaded, FrozenEncoderStudent) and loaded.labels == LABELS
        np.testing.assert_array_equal(loaded.predict_proba(query), student.predict_proba(query))


def test_saved_folder_loads_without_its_backbone(
    tiny_bert: Path, toy_samples: ToySamples, tmp_path: Path
) -> None:
    backbone = Path(shutil.copytree(tiny_bert, tmp_path / "backbone"))
    student = frozen(backbone)
    student.fit(toy_samples(40, 1), toy_samples(10, 2))
    query = texts(toy_samples(10, 3))
    expected = student.predict_proba(query)
    student.save(tmp_path / "model")
    shutil.rmtree(backbone)
    moved = Path(shutil.move(tmp_path / "model", tmp_path / "elsewhere"))
    # pgkd reads head.safetensors; SetFit's pickle is written for others and never unpickled.
    (moved / "model_head.pkl").write_bytes(b"not a pickle")
    loaded = load_student(moved)
    assert isinstance(loaded, FrozenEncoderStudent) and loaded.backbone_path == moved
    np.testing.assert_allclose(loaded.predict_proba(query), expected, atol=1e-6)


def test_new_student_embeds_only_new_texts(tiny_bert: Path, toy_samples: ToySamples) -> None:
    train, validation, extra = toy_samples(40, 1), toy_samples(10, 2), toy_samples(8, 4)
    first = frozen(tiny_bert)
    first.fit(train, validation)
    assert first.cache.encoded == 50
    second = frozen(tiny_bert, seed=1)
    second.fit(train + extra, validation)
    assert second.cache is first.cache and second.cache.encoded == 58
    second.predict_proba(texts(train[:5]))
    assert second.cache.encoded == 58


def test_seeded_fits_are_reproducible(tiny_bert: Path, toy_samples: ToySamples) -> None:
    query = texts(toy_samples(10, 3))
    runs = []
    for _ in range(2):
        student = frozen(tiny_bert, seed=7)
        student.fit(toy_samples(40, 1), toy_samples(10, 2))
        runs.append(student.predict_proba(query))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_regularisation_path_stops_when_validation_loss_rises() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = [int(v > 0) for v in x[:, 0]]
    flipped = [1 - label for label in y]
    result = fit_head(x, y, (x, flipped), n_labels=2, patience=2, seed=0)
    assert result.best_point == 1 and result.points_run == 3
    assert isinstance(result.head, LinearHead)


def test_real_minilm_separates_topics(toy_samples: ToySamples) -> None:
    student = frozen(None)
    student.fit(toy_samples(40, 1), toy_samples(20, 2))
    test = toy_samples(20, 3)
    assert accuracy(student.predict_proba(texts(test)), LABELS, test) >= 0.95


def test_one_seen_class_and_empty_queries(tiny_bert: Path, toy_samples: ToySamples) -> None:
    student = frozen(tiny_bert)
    report = student.fit([s for s in toy_samples(20, 1) if s.target == "sports"], [])
    assert math.isnan(report.best_validation_loss)
    proba = student.predict_proba(["stocks fell", "goal!"])
    assert (proba.argmax(axis=1) == 0).all() and proba[:, 1:].max() < 1e-6
    assert student.predict_proba([]).shape == (0, 3)


def test_predicting_before_fit_says_what_to_do(tiny_bert: Path) -> None:
    with pytest.raises(RuntimeError, match=r"call fit\(\) or load\(\) first"):
        frozen(tiny_bert).predict_proba(["x"])


def test_bf16_embeddings_stay_close_to_fp32(tiny_bert: Path, toy_samples: ToySamples) -> None:
    query = texts(toy_samples(16, 3))
    plain = frozen(tiny_bert).cache.embed(query)
    settings = StudentSettings(
        kind="frozen", backbone=str(tiny_bert), threads=1, options={"bf16": True}
    )
    fast = FrozenEncoderStudent(settings, LABELS, 0).cache
    assert fast.bf16 and (fast.embed(query) * plain).sum(axis=1).min() > 0.99


def test_embeddings_of_two_encoders_never_share_a_file_name(tmp_path: Path) -> None:
    """The benchmark's per-data-set embeddings file is named by the cache's signature: two
    encoders whose folders have the same name get different files, one encoder the same."""
    from pgkd.students.frozen import EmbeddingCache

    first, second = tmp_path / "a" / "model", tmp_path / "b" / "model"
    for folder in (first, second):
        folder.mkdir(parents=True)
    assert EmbeddingCache(first, 64, 8).signature != EmbeddingCache(second, 64, 8).signature
    assert EmbeddingCache(first, 64, 8).signature == EmbeddingCache(first, 64, 32).signature
    assert EmbeddingCache(first, 64, 8).signature != EmbeddingCache(first, 128, 8).signature
