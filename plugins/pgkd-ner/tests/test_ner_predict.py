"""``pgkd predict`` on a saved ner-token student, through pgkd's real CLI: entities with
character offsets in JSONL, CSV (entities as JSON text) and Parquet (nested lists), streamed in
chunks; options that only fit classifiers are refused in one line."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pgkd import RecordPredictor, StudentSettings
from pgkd.testing import (
    PredictOptions,
    load_predictor,
    load_samples,
    predict_records,
    stratified_split,
)
from pgkd.testing import cli_main as main

from pgkd_ner.task import NerTask
from pgkd_ner.token_student import KIND, TokenClassifierStudent

TASK = NerTask()
EXTRA = ["Nothing happened today.", "Maria Lopez flew to Paris to meet Siemens."]


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory, tiny_backbone: Path, data_dir: Path
) -> tuple[Path, TokenClassifierStudent]:
    train = load_samples(data_dir / "train.jsonl", TASK)
    labels = TASK.labels_of(train)
    train, validation = stratified_split(train, 0.2, TASK, 0)
    settings = StudentSettings(
        kind=KIND,
        backbone=str(tiny_backbone),
        max_length=64,
        batch_size=16,
        learning_rate=5e-3,
        epochs=12,
        patience=3,
        threads=1,
    )
    student = TokenClassifierStudent(settings, labels, seed=0)
    student.fit(train, validation)
    folder = tmp_path_factory.mktemp("ner-student") / "best"
    student.save(folder)
    return folder, student


@pytest.fixture
def ner_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin loads through its installed entry point, as for a user."""
    monkeypatch.setenv("PGKD_PLUGINS", "ner")


@pytest.fixture(scope="module")
def texts(data_dir: Path) -> list[str]:
    return EXTRA + [s.text for s in load_samples(data_dir / "test.jsonl", TASK)]


def write_input(path: Path, texts: Sequence[str]) -> Path:
    rows = [{"id": f"s{i}", "body": text} for i, text in enumerate(texts)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def predict(model: Path, source: Path, out: Path, *extra: str) -> int:
    argv = ["predict", str(model), str(source), "--out", str(out), "--text-field", "body"]
    return main([*argv, "--keep", "id", "--chunk-rows", "7", "--quiet", *extra])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.usefixtures("ner_allowed")
def test_cli_writes_entities_at_the_right_characters(
    saved: tuple[Path, TokenClassifierStudent],
    texts: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, student = saved
    out = tmp_path / "entities.jsonl"

    assert predict(folder, write_input(tmp_path / "in.jsonl", texts), out) == 0

    assert f"wrote {len(texts)} predictions" in capsys.readouterr().out
    rows = read_jsonl(out)
    assert [r["row"] for r in rows] == list(range(1, len(texts) + 1))
    assert [r["id"] for r in rows] == [f"s{i}" for i in range(len(texts))]
    assert [r["text"] for r in rows] == texts
    assert list(rows[0]) == ["row", "id", "text", "entities", "confidence"]
    expected = student.tag(texts)
    for row, tagging in zip(rows, expected, strict=True):
        for entity, sure in zip(row["entities"], tagging.entity_confidences, strict=True):
            assert set(entity) == {"type", "start", "end", "text", "confidence"}
            assert row["text"][entity["start"] : entity["end"]] == entity["text"]
            # An entity is as sure as its least sure word, so never less than the whole text.
            assert entity["confidence"] == pytest.approx(sure, abs=1e-6)
            assert row["confidence"] - 1e-6 <= entity["confidence"] <= 1.0
        spans = [(e["start"], e["end"], e["type"]) for e in row["entities"]]
        assert spans == [tuple(span) for span in tagging.entities]
        assert row["confidence"] == pytest.approx(tagging.confidence, abs=1e-6)
    # The tiny student has learned: it finds Paris in a sentence it never saw.
    paris = next(e for e in rows[1]["entities"] if e["text"] == "Paris")
    assert (paris["start"], paris["end"], paris["type"]) == (20, 25, "LOC")
    assert sum(len(r["entities"]) for r in rows) >= len(texts) // 2


@pytest.mark.usefixtures("ner_allowed")
def test_csv_holds_entities_as_json_and_parquet_as_nested_lists(
    saved: tuple[Path, TokenClassifierStudent], texts: list[str], tmp_path: Path
) -> None:
    folder, _ = saved
    # An empty text has no words, so the first one-row chunk's entity list is surely empty.
    source = write_input(tmp_path / "in.jsonl", ["", *texts])
    for name in ("o.jsonl", "o.csv", "o.parquet"):
        assert predict(folder, source, tmp_path / name, "--chunk-rows", "1") == 0

    jsonl = read_jsonl(tmp_path / "o.jsonl")
    with open(tmp_path / "o.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["row", "id", "text", "entities", "confidence"]
    assert [json.loads(r["entities"]) for r in table] == [r["entities"] for r in jsonl]
    assert [int(r["row"]) for r in table] == [r["row"] for r in jsonl]
    parquet = pq.read_table(tmp_path / "o.parquet")
    entity = parquet.schema.field("entities").type.value_type
    assert [(f.name, str(f.type)) for f in entity] == [
        ("type", "string"),
        ("start", "int64"),
        ("end", "int64"),
        ("text", "string"),
        ("confidence", "double"),
    ]
    assert parquet.to_pylist() == jsonl
    assert jsonl[0]["entities"] == []  # the first chunk alone did not fix the Parquet types
    assert any(r["entities"] for r in jsonl)


@pytest.mark.usefixtures("ner_allowed")
def test_no_text_and_chunks_stream_through_the_student(
    saved: tuple[Path, TokenClassifierStudent], texts: list[str], tmp_path: Path
) -> None:
    folder, _ = saved
    predictor = load_predictor(folder, batch_size=4)
    assert isinstance(predictor, RecordPredictor)
    assert isinstance(predictor, TokenClassifierStudent) and predictor.settings.batch_size == 4
    seen: list[int] = []

    class Counting:
        def prediction_records(self, chunk: Sequence[str]) -> list[dict[str, Any]]:
            seen.append(len(chunk))
            return predictor.prediction_records(chunk)

    options = PredictOptions(text_field="body", chunk_rows=16, include_text=False)
    out = tmp_path / "o.jsonl"
    count = predict_records(Counting(), write_input(tmp_path / "in.jsonl", texts), out, options)

    assert count == len(texts) and seen == [16, 16, 16, len(texts) - 48]
    rows = read_jsonl(out)
    assert all(list(r) == ["row", "entities", "confidence"] for r in rows)


@pytest.mark.usefixtures("ner_allowed")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top-k", "2"], "drop --top-k"),
        (["--quantize", "int8"], "--quantize works for frozen and transformer students"),
    ],
)
def test_classifier_options_are_refused_in_one_line(
    saved: tuple[Path, TokenClassifierStudent],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    folder, _ = saved
    out = tmp_path / "o.jsonl"

    assert predict(folder, write_input(tmp_path / "in.jsonl", EXTRA), out, *extra) == 2

    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err
    assert not out.exists() and not list(tmp_path.glob(".o.jsonl*"))


def test_a_plugin_left_out_of_pgkd_plugins_is_named(
    saved: tuple[Path, TokenClassifierStudent], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = saved  # conftest sets PGKD_PLUGINS="": no entry point loads

    assert predict(folder, write_input(tmp_path / "in.jsonl", EXTRA), tmp_path / "o.jsonl") == 2

    err = capsys.readouterr().err
    assert "'ner-token' is not registered" in err and "PGKD_PLUGINS" in err


def test_a_runs_plugins_load_finds_the_student(
    saved: tuple[Path, TokenClassifierStudent], tmp_path: Path
) -> None:
    folder, student = saved
    run = tmp_path / "run"
    run.mkdir()
    (run / "best").symlink_to(folder, target_is_directory=True)
    (run / "config.toml").write_text('[plugins]\nload = ["pgkd_ner"]\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"

    assert predict(run, write_input(tmp_path / "in.jsonl", EXTRA), out) == 0

    rows = read_jsonl(out)
    assert [len(r["entities"]) for r in rows] == [len(t.entities) for t in student.tag(EXTRA)]


def test_export_refuses_a_ner_student_and_points_at_predict(
    saved: tuple[Path, TokenClassifierStudent], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = saved

    assert main(["export", str(folder), "--out", str(tmp_path / "onnx")]) == 2

    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "not 'ner-token'" in err and f"pgkd predict {folder}" in err
    assert not (tmp_path / "onnx").exists()
