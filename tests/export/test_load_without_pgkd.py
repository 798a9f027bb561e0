"""A saved student loads with libraries that know nothing of pgkd, in a Python that has no pgkd:
the frozen student's ``best/`` with SetFit, the transformer student's ONNX export with Hugging
Face Optimum's ONNX Runtime class. Both must label texts as pgkd does.

setfit and optimum-onnx pin transformers versions the project's own venv does not have, so they
live in a separate venv (``make interop`` builds ``.venv-interop``; ``make test`` and CI build it
first). ``PGKD_INTEROP_PYTHON`` points at another interpreter with both installed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pgkd.serving.export import export_model
from pgkd.students.loading import load_student
from tests.predict.tiny_students import TICKETS, read_samples

ROOT = Path(__file__).parents[2]
INTEROP_ENV = "PGKD_INTEROP_PYTHON"
TEXTS = [s.text for s in read_samples(TICKETS / "test.jsonl")][:40]

SETFIT_SCRIPT = """
import json, sys
from setfit import SetFitModel
model = SetFitModel.from_pretrained(sys.argv[1])
texts = json.loads(sys.stdin.read())
result = {
    "labels": [str(label) for label in model.predict(texts)],
    "proba": [[float(p) for p in row] for row in model.predict_proba(texts)],
    "pgkd_imported": "pgkd" in sys.modules,
}
print(json.dumps(result))
"""

OPTIMUM_SCRIPT = """
import json, sys
from optimum.onnxruntime import ORTModelForSequenceClassification
from transformers import AutoTokenizer
model = ORTModelForSequenceClassification.from_pretrained(sys.argv[1])
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])
texts = json.loads(sys.stdin.read())
inputs = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
logits = model(**inputs).logits
result = {
    "labels": [model.config.id2label[int(i)] for i in logits.argmax(dim=-1)],
    "proba": logits.softmax(dim=-1).tolist(),
    "pgkd_imported": "pgkd" in sys.modules,
}
print(json.dumps(result))
"""


def interop_python() -> Path:
    given = os.environ.get(INTEROP_ENV)
    python = Path(given) if given else ROOT / ".venv-interop" / "bin" / "python"
    if not python.is_file():
        pytest.skip(
            f"{python}: no Python with setfit and optimum-onnx; run `make interop` "
            f"(make test and CI do) or set {INTEROP_ENV}"
        )
    return python


def run_without_pgkd(script: str, folder: Path, cwd: Path) -> dict[str, object]:
    """``script`` in the interop Python, isolated (``-I``: no PYTHONPATH, no user site), from a
    folder that holds no pgkd: whatever it loads, it loads without pgkd."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    done = subprocess.run(
        [str(interop_python()), "-I", "-c", script, str(folder)],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["pgkd_imported"] is False
    return result


def assert_same_predictions(result: dict[str, object], student_dir: Path, atol: float) -> None:
    student = load_student(student_dir)
    expected = student.predict_proba(TEXTS)
    assert result["labels"] == [student.labels[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(np.asarray(result["proba"]), expected, atol=atol)


def test_frozen_best_loads_with_setfit(students: dict[str, Path], tmp_path: Path) -> None:
    result = run_without_pgkd(SETFIT_SCRIPT, students["frozen"], tmp_path)
    assert_same_predictions(result, students["frozen"], atol=1e-4)


def test_transformer_export_loads_with_optimum(students: dict[str, Path], tmp_path: Path) -> None:
    export_model(students["transformer"], tmp_path / "onnx")
    result = run_without_pgkd(OPTIMUM_SCRIPT, tmp_path / "onnx", tmp_path)
    assert_same_predictions(result, students["transformer"], atol=1e-3)
