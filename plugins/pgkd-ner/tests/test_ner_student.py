"""The ner-token student learns entities from the shipped data and round-trips through disk."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from pgkd import STUDENT_MARKER as MARKER
from pgkd import StudentSettings
from pgkd.testing import load_samples, stratified_split

from pgkd_ner.plugin import STUDENT_KIND
from pgkd_ner.spans import Span
from pgkd_ner.task import NerTask
from pgkd_ner.token_student import KIND, TokenClassifierStudent

TASK = NerTask()


def tiny_settings(backbone: Path, **changes: object) -> StudentSettings:
    values: dict[str, object] = {
        "kind": KIND,
        "backbone": str(backbone),
        "max_length": 64,
        "batch_size": 16,
        "learning_rate": 5e-3,
        "epochs": 12,
        "patience": 3,
        "threads": 1,  # tiny matrices: one thread beats two on shared cores
    }
    values.update(changes)
    return StudentSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(tiny_backbone: Path, data_dir: Path) -> TokenClassifierStudent:
    train = load_samples(data_dir / "train.jsonl", TASK)
    labels = TASK.labels_of(train)
    train, validation = stratified_split(train, 0.2, TASK, 0)
    student = TokenClassifierStudent(tiny_settings(tiny_backbone), labels, seed=0)
    report = student.fit(train, validation)
    assert report.best_epoch >= 1 and report.best_validation_loss < 1.0
    return student


def test_kind_matches_the_registered_name() -> None:
    assert KIND == STUDENT_KIND == "ner-token"


def test_student_learns_entities_from_the_shipped_data(
    trained: TokenClassifierStudent, data_dir: Path
) -> None:
    test = load_samples(data_dir / "test.jsonl", TASK)
    evaluation, predictions = TASK.evaluate(trained, test, trained.labels)
    assert evaluation.metrics["f1"] > 0.3, evaluation.metrics
    assert 0 < evaluation.loss < 1.0
    assert set(evaluation.per_class) == {"LOC", "ORG", "PER"}
    assert len(predictions) == len(test)
    assert all(0.0 <= p.confidence <= 1.0 for p in predictions)
    right = [p for p, s in zip(predictions, test, strict=True) if p.correct]
    assert right and all(
        set(p.target) == set(s.target) for p, s in zip(predictions, test, strict=True) if p.correct
    )


def test_untrained_student_refuses_to_tag(tiny_backbone: Path) -> None:
    student = TokenClassifierStudent(tiny_settings(tiny_backbone), ("PER",), seed=0)
    with pytest.raises(RuntimeError, match="call fit"):
        student.tag(["Ada Lovelace wrote it."])


def test_saved_student_loads_back_and_tags_the_same(
    trained: TokenClassifierStudent, tmp_path: Path
) -> None:
    trained.save(tmp_path)
    marker = json.loads((tmp_path / MARKER).read_text())
    assert marker["kind"] == "ner-token" and marker["labels"] == ["LOC", "ORG", "PER"]
    assert marker["tags"][0] == "O" and "B-PER" in marker["tags"]
    loaded = TokenClassifierStudent.load(tmp_path)
    texts = ["Maria Lopez flew to Paris to meet Siemens.", "Nothing happened today."]
    assert [t.entities for t in loaded.tag(texts)] == [t.entities for t in trained.tag(texts)]


def test_a_saved_student_carries_no_run_local_option(
    trained: TokenClassifierStudent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = str(tmp_path / "run" / "embeddings.sqlite")
    options = {"embedding_store": store, "bf16": False}
    monkeypatch.setattr(trained, "settings", replace(trained.settings, options=options))
    trained.save(tmp_path / "best")
    saved = json.loads((tmp_path / "best" / MARKER).read_text())["settings"]
    assert saved["options"] == {"bf16": False}
    assert store not in (tmp_path / "best" / MARKER).read_text()


def test_tagging_reports_loss_only_with_gold(trained: TokenClassifierStudent) -> None:
    text = "Maria Lopez flew to Paris."
    plain = trained.tag([text])[0]
    assert plain.tokens == 0 and plain.loss_sum == 0.0
    scored = trained.tag([text], gold=[(Span(0, 11, "PER"), Span(20, 25, "LOC"))])[0]
    assert scored.tokens == 6 and scored.loss_sum > 0  # Maria Lopez flew to Paris .
    assert scored.entities == plain.entities


def test_a_pipeline_reads_the_saved_model(trained: TokenClassifierStudent, tmp_path: Path) -> None:
    from transformers import pipeline

    trained.save(tmp_path)
    tagger = pipeline("token-classification", model=str(tmp_path), device="cpu")
    out = tagger("Maria Lopez flew to Paris.")
    assert isinstance(out, list)
    assert all(
        item["entity"] in json.loads((tmp_path / MARKER).read_text())["tags"] for item in out
    )
