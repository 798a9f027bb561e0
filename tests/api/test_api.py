"""The Python API, used as a notebook or an async app would: inside a running event loop, with
data in a DataFrame, the SIMULATION teacher and a tiny student backbone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import pgkd
from pgkd.errors import ConfigError, RunDirError
from pgkd.serving.inference import load_predictor
from pgkd.testing import tiny_bert_backbone
from tests.reliability.resume_kit import Crash, CrashInStep
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer

#: What two runs of the same settings must agree on (timings and paths aside).
SAME = ("best_step", "steps_run", "model_0", "best", "samples", "history_size")
TEXTS = ["I was charged twice for my subscription", "the app crashes when I open settings"]


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert_backbone(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def settings(tickets: dict[str, Path], backbone: Path) -> dict[str, Any]:
    """Keyword settings of a small run: train from a DataFrame, test from a file."""
    return {
        "train": pd.DataFrame(read_rows(tickets["train"])),
        "test": str(tickets["test"]),
        "teacher": {"model": f"pool:{tickets['pool']}", "concurrency": 2},
        "student": {"kind": "frozen", "backbone": str(backbone), "max_length": 64},
        "kd": {"steps": 2, "batch_size": 8},
    }


@pytest.fixture(scope="module")
def finished(
    tickets: dict[str, Path], backbone: Path, tmp_path_factory: pytest.TempPathFactory
) -> pgkd.RunResult:
    return pgkd.distill(
        train=str(tickets["train"]),
        test=str(tickets["test"]),
        teacher=f"pool:{tickets['pool']}",
        student={"backbone": str(backbone), "max_length": 64},
        kd={"steps": 1, "batch_size": 8},
        out=tmp_path_factory.mktemp("api") / "run",
        progress=False,
    )


def test_distill_and_adistill_work_inside_a_running_event_loop(
    settings: dict[str, Any], tmp_path: Path
) -> None:
    async def notebook_cell() -> tuple[pgkd.RunResult, pgkd.RunResult]:
        # What the API must avoid: asyncio.run() refuses to start inside a running loop.
        pending = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
            asyncio.run(pending)
        pending.close()
        blocking = pgkd.distill(out=tmp_path / "blocking", progress=False, **settings)
        awaited = await pgkd.adistill(out=tmp_path / "awaited", progress=False, **settings)
        return blocking, awaited

    blocking, awaited = asyncio.run(notebook_cell())
    for result, name in ((blocking, "blocking"), (awaited, "awaited")):
        assert result.run_dir == tmp_path / name
        assert [line["step"] for line in result.metrics] == [0, 1, 2]
        assert result.summary["steps_run"] == 2
        assert (result.run_dir / "data" / "train.jsonl").is_file()
    assert {k: blocking.summary[k] for k in SAME} == {k: awaited.summary[k] for k in SAME}


def test_the_result_exposes_summary_metrics_and_a_student_that_predicts(
    finished: pgkd.RunResult,
) -> None:
    assert finished.best_step == finished.summary["best_step"]
    assert finished.best_model == finished.run_dir / "best" and finished.report.is_file()
    scores = finished.scores()
    assert [row["step"] for row in scores] == [0, 1]
    assert sum(row["is_best"] for row in scores) == 1
    assert scores[0]["val_accuracy"] == finished.summary["model_0"]["val"]["accuracy"]
    assert "test_macro_f1" in scores[0]
    assert str(finished).startswith(f"{finished.run_dir}: 1 steps, best step")
    assert repr(finished) == f"RunResult({finished})"  # short in a notebook, not the summary

    predictions = finished.student.predict(TEXTS)
    reference = load_predictor(finished.best_model)
    probabilities = reference.predict_proba(TEXTS)  # type: ignore[union-attr]
    assert finished.student.labels == reference.labels  # type: ignore[union-attr]
    for prediction, row in zip(predictions, probabilities, strict=True):
        assert prediction.label == reference.labels[int(np.argmax(row))]  # type: ignore[union-attr]
        assert prediction.confidence == pytest.approx(float(row.max()))
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    # One text alone is padded differently from a batch: the same label, the same numbers to
    # float rounding.
    [alone] = finished.student.predict(TEXTS[0])
    assert alone.label == predictions[0].label
    assert alone.probabilities == pytest.approx(predictions[0].probabilities, abs=1e-6)
    [record] = finished.student.predict_records(TEXTS[:1])
    assert record["label"] == predictions[0].label and len(record["top_k"]) == 3
    again = pgkd.load_run(finished.run_dir)
    assert again.summary == finished.summary and again.metrics == finished.metrics


def test_a_student_labels_a_file_as_pgkd_predict_does(
    finished: pgkd.RunResult, tickets: dict[str, Path], tmp_path: Path
) -> None:
    from pgkd.commands.cli import main

    count = finished.student.predict_file(tickets["test"], tmp_path / "api.jsonl", keep=["label"])
    assert count == 120
    assert (
        main(
            [
                "predict",
                str(finished.run_dir),
                str(tickets["test"]),
                "--out",
                str(tmp_path / "cli.jsonl"),
                "--keep",
                "label",
                "--quiet",
            ]
        )
        == 0
    )
    assert read_rows(tmp_path / "api.jsonl") == read_rows(tmp_path / "cli.jsonl")


def test_export_then_load_the_export(finished: pgkd.RunResult, tmp_path: Path) -> None:
    folder = pgkd.export(finished.run_dir, tmp_path / "onnx")
    assert folder == tmp_path / "onnx" and (folder / "model.onnx").is_file()
    exported = pgkd.load_student(folder)
    assert exported.labels == finished.student.labels
    np.testing.assert_allclose(
        exported.predict_proba(TEXTS), finished.student.predict_proba(TEXTS), atol=1e-4
    )


def test_compare_runs_inside_a_running_event_loop(
    finished: pgkd.RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.credentials(monkeypatch)

    async def handler() -> Any:
        with pytest.raises(ConfigError, match="SIMULATION"):
            pgkd.compare(finished.run_dir, limit=3)
        with LoopbackServer() as server:
            url = server.url + "/v1"
            result = pgkd.compare(
                finished.run_dir, limit=4, teacher="openai:gpt-4o-mini", base_url=url
            )
            return result, len(server.served)

    result, served = asyncio.run(handler())
    assert served == 4 and result["texts"] == 4
    assert result["teacher"]["model"] == "openai:gpt-4o-mini"
    assert result == json.loads((finished.run_dir / "compare.json").read_text(encoding="utf-8"))


def test_resume_continues_a_broken_run_and_returns_a_finished_one(
    settings: dict[str, Any], tmp_path: Path
) -> None:
    whole = pgkd.distill(out=tmp_path / "whole", progress=False, **settings)
    broken = tmp_path / "broken"
    with pytest.raises(Crash):
        pgkd.distill(out=broken, progress=False, extra_plugins=[CrashInStep(2)], **settings)
    with pytest.raises(RunDirError, match=r"has not finished: continue it with pgkd\.resume"):
        pgkd.load_run(broken)

    async def service() -> pgkd.RunResult:
        return await pgkd.aresume(broken, progress=False)

    resumed = asyncio.run(service())
    assert {k: resumed.summary[k] for k in SAME} == {k: whole.summary[k] for k in SAME}
    assert pgkd.resume(broken, progress=False).summary == resumed.summary  # finished: as is


def test_a_config_from_a_file_a_dict_or_keywords_is_validated_alike(
    tickets: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        '[data]\ntrain = "train.jsonl"\n[teacher]\nmodel = "pool:pool.jsonl"\n'
        "[teacher.options]\nkeep = 1\n[kd]\nsteps = 4\n",
        encoding="utf-8",
    )
    from_file = pgkd.make_config(toml, kd={"batch_size": 8}, teacher={"options": {"more": 2}})
    assert from_file.data.train == tmp_path / "train.jsonl"
    assert (from_file.kd.steps, from_file.kd.batch_size) == (4, 8)
    assert from_file.teacher.options == {"keep": 1, "more": 2}

    monkeypatch.chdir(tmp_path)
    from_dict = pgkd.make_config({"data": {"train": "train.jsonl"}, "kd": {"steps": 4}})
    from_keywords = pgkd.make_config(train="train.jsonl", kd={"steps": 4}, teacher="openai:x")
    assert from_dict.data.train == from_keywords.data.train == tmp_path / "train.jsonl"
    assert from_keywords.teacher.model == "openai:x"
    on_top = pgkd.make_config(from_dict, student="transformer", text_field="body")
    assert (on_top.student.kind, on_top.data.text_field, on_top.kd.steps) == (
        "transformer",
        "body",
        4,
    )

    problems = {
        "pgkd.distill: [kd] steps: Input should be greater than or equal to 0": {
            "train": "t.jsonl",
            "kd": {"steps": -1},
        },
        "pgkd.distill: unknown key [kd] stepz; remove it or use one of:": {
            "train": "t.jsonl",
            "kd": {"stepz": 3},
        },
        "pgkd.distill: unknown setting 'steps'; use train=": {"train": "t.jsonl", "steps": 3},
        "pgkd.distill: teacher= takes a string (its model) or a dict, not int": {
            "train": "t.jsonl",
            "teacher": 5,
        },
        "pgkd.distill: the [data] section is required": {"kd": {"steps": 1}},
    }
    for expected, bad in problems.items():
        with pytest.raises(ConfigError) as info:
            pgkd.distill(out=tmp_path / "never", progress=False, **bad)
        assert str(info.value).startswith(expected), str(info.value)
        assert "\n" not in str(info.value)
        assert not (tmp_path / "never").exists()


def test_a_datasetdict_gives_its_splits_by_name(tickets: dict[str, Path], backbone: Path) -> None:
    import datasets

    rows = read_rows(tickets["train"])
    both = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows),
            "test": datasets.Dataset.from_list(read_rows(tickets["test"])),
        }
    )
    config = pgkd.make_config(data=both, teacher=f"pool:{tickets['pool']}")
    assert config.data.validation is None
    assert len(config.data.train) == len(rows)  # type: ignore[arg-type]
    assert config.data.test is not None and len(config.data.test) == 120  # type: ignore[arg-type]


def test_import_pgkd_stays_cheap_and_lists_the_api() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pgkd; print(all(n in pgkd.__all__ for n in ('distill', 'adistill', "
        "'resume', 'load_student', 'compare', 'export', 'RunResult')), "
        "'torch' in sys.modules, 'pgkd.runner' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]
