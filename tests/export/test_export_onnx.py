"""``pgkd export --format onnx``: the exported graph, run by onnxruntime, labels held-out data
like the torch student (>= 99%), for both student kinds, fp32 and int8."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from pgkd.commands.cli import main
from pgkd.serving.export import export_model
from pgkd.serving.inference import OnnxPredictor, load_predictor
from pgkd.students.loading import load_student
from tests.predict.tiny_students import TICKETS, read_samples

HELD = [s.text for s in read_samples(TICKETS / "test.jsonl")]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))


@pytest.mark.parametrize("kind", ["transformer", "frozen"])
def test_fp32_export_agrees_with_the_torch_student(
    kind: str, students: dict[str, Path], tmp_path: Path
) -> None:
    model = export_model(students[kind], tmp_path / "onnx")

    onnx = load_predictor(tmp_path / "onnx")
    torch_probs = load_student(students[kind]).predict_proba(HELD)
    onnx_probs = onnx.predict_proba(HELD)
    assert isinstance(onnx, OnnxPredictor)
    assert agreement(onnx_probs, torch_probs) >= 0.99
    assert np.abs(onnx_probs - torch_probs).max() < 1e-3
    marker = json.loads((tmp_path / "onnx" / "pgkd_onnx.json").read_text())
    assert marker["kind"] == kind and marker["labels"] == list(onnx.labels)
    assert model.name == "model.onnx" and (tmp_path / "onnx" / "tokenizer.json").is_file()


def test_the_export_runs_without_pgkd(students: dict[str, Path], tmp_path: Path) -> None:
    """What a consumer does: tokenizer.json + model.onnx + the labels, nothing of pgkd."""
    export_model(students["frozen"], tmp_path / "onnx")
    folder = tmp_path / "onnx"
    marker = json.loads((folder / "pgkd_onnx.json").read_text())
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(marker["max_length"])
    tokenizer.enable_padding()
    encoded = tokenizer.encode_batch(HELD[:16])
    session = ort.InferenceSession(
        str(folder / marker["model"]), providers=["CPUExecutionProvider"]
    )

    (probabilities,) = session.run(
        ["probabilities"],
        {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        },
    )

    expected = load_student(students["frozen"]).predict_proba(HELD[:16])
    assert agreement(probabilities, expected) >= 0.99


def test_int8_export_through_the_cli(
    students: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "best").symlink_to(students["transformer"], target_is_directory=True)

    code = main(["export", str(run), "--format", "onnx", "--quantize", "int8"])

    assert code == 0
    assert str(run / "onnx-int8" / "model.onnx") in capsys.readouterr().out
    fp32 = export_model(students["transformer"], tmp_path / "fp32")
    int8 = run / "onnx-int8" / "model.onnx"
    assert int8.stat().st_size < fp32.stat().st_size * 0.6
    probs = load_predictor(run / "onnx-int8").predict_proba(HELD)
    # A tiny random-init model has near-tied logits, the hardest case for int8.
    assert agreement(probs, load_student(students["transformer"]).predict_proba(HELD)) >= 0.95


def test_not_a_student_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", str(tmp_path)])

    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert str(tmp_path) in err and "pgkd_student.json" in err
