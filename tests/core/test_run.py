"""Whole runs: the real loop, the frozen MiniLM student and the simulation teacher."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from pgkd.commands.cli import main
from pgkd.config import Config, config_from_mapping
from pgkd.errors import LeakageError
from pgkd.hookspecs import hookimpl
from pgkd.progress import Progress
from pgkd.runner import run
from pgkd.teachers.base import TeacherReply, TeacherRequest, TeacherSettings
from pgkd.teachers.simulation import SimulationTeacher
from pgkd.types import StepContext

QUIET = Progress(live=False, quiet=True)


#: Every call gets the PGKD prompt, whatever share of calls a default sends a plain prompt.
GUIDED_CALLS = {"options": {"call_views": {"explore": 0.0}}}


def make_config(
    tickets: dict[str, Path],
    teacher_file: str = "pool",
    plugins: dict[str, Any] | None = None,
    **kd: Any,
) -> Config:
    return config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {
                "model": f"pool:{tickets[teacher_file]}",
                "concurrency": 2,
                "samples_per_call": 8,
            },
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": 3, "patience": 5, "batch_size": 16, **kd},
            "plugins": plugins or {},
        }
    )


class RecordingTeachers:
    """Registers a teacher that answers like the simulation teacher and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[TeacherRequest] = []

    @hookimpl
    def register_teachers(self, register: Any) -> None:
        recorder = self

        class Recording(SimulationTeacher):
            async def complete(self, request: TeacherRequest) -> TeacherReply:
                recorder.requests.append(request)
                return await super().complete(request)

        def build(settings: TeacherSettings) -> SimulationTeacher:
            return Recording(settings)

        register("pool", build)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_full_run_writes_the_run_directory(tickets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = run(make_config(tickets), out, progress=QUIET, entry_points_enabled=False)
    assert {p.name for p in out.iterdir()} >= {
        "config.toml",
        "journal.jsonl",
        "metrics.jsonl",
        "summary.json",
        "best",
        "cache.sqlite",
    }
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["steps_run"] == 3 and not summary["stopped_early"]
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [0, 1, 2, 3]
    assert all("test" in m and "accuracy" in m["val"] for m in metrics)
    # Every line says where its time went; a KD step also splits its prompt preparation.
    assert {"training", "evaluation", "step"} <= set(metrics[0]["seconds"])
    for line in metrics[1:]:
        parts = line["seconds"]
        assert {"report", "selection", "prompt", "prepare", "teacher", "step"} <= set(parts)
        assert parts["report"] + parts["selection"] + parts["prompt"] <= parts["prepare"]
    samples = summary["samples"]
    assert samples["generated"] == 48 == samples["accepted"] + samples["rejected"]
    events = [e for e in read_jsonl(out / "journal.jsonl") if e["event"] == "sample"]
    assert len(events) == 48 and sum(e["accepted"] for e in events) == samples["accepted"]
    assert summary["teacher"]["calls"] >= 6
    assert summary["history_size"] == 144 + samples["accepted"]
    best_step = summary["best_step"]
    assert summary["best"]["val"] == metrics[best_step]["val"]
    assert json.loads((out / "best" / "pgkd_best.json").read_text())["step"] == best_step


def test_no_validation_or_test_text_reaches_the_teacher(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    from pgkd.data import prepare_splits
    from pgkd.guard import normalize
    from pgkd.tasks.classification import ClassificationTask

    config = make_config(tickets, plugins=GUIDED_CALLS)  # the prompt that shows the most
    recorder = RecordingTeachers()
    run(
        config,
        tmp_path / "run",
        progress=QUIET,
        extra_plugins=[recorder],
        entry_points_enabled=False,
    )
    assert len(recorder.requests) >= 6
    splits = prepare_splits(config.data, ClassificationTask(), config.kd.seed)
    heldout = {normalize(s.text) for s in (*splits.validation, *splits.test)}
    for request in recorder.requests:
        prompt = normalize(request.system + " " + request.user)
        assert not [text for text in heldout if text in prompt]
        assert "validation set" in request.user and "Labelled examples" in request.user


def test_a_plugin_that_leaks_validation_text_is_stopped_before_the_teacher(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    from pgkd.data import prepare_splits
    from pgkd.tasks.classification import ClassificationTask

    config = make_config(tickets)
    splits = prepare_splits(config.data, ClassificationTask(), config.kd.seed)
    leaked = splits.validation[0].text

    class Leaky:
        @hookimpl
        def on_eval(self, context: StepContext) -> Mapping[str, str]:
            return {"leak": f"By the way: {leaked}"}

    recorder = RecordingTeachers()
    with pytest.raises(LeakageError):
        run(
            config,
            tmp_path / "run",
            progress=QUIET,
            extra_plugins=[recorder, Leaky()],
            entry_points_enabled=False,
        )
    assert recorder.requests == []


def test_ablation_by_config_removes_prompt_sections(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    config = make_config(tickets, plugins=GUIDED_CALLS, steps=1)
    config.plugins.disable = ["hard_negatives", "validation_report"]
    recorder = RecordingTeachers()
    run(
        config,
        tmp_path / "run",
        progress=QUIET,
        extra_plugins=[recorder],
        entry_points_enabled=False,
    )
    assert recorder.requests
    for request in recorder.requests:
        assert "confident" not in request.user
        assert "validation set" not in request.user
        assert "already classifies correctly" in request.user


def test_wrong_teacher_labels_stop_early_and_keep_model_0(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    config = make_config(tickets, "wrong", steps=6, patience=2, batch_size=40)
    summary = run(config, tmp_path / "run", progress=QUIET, entry_points_enabled=False)
    assert summary["stopped_early"] and "patience 2" in summary["stop_reason"]
    assert summary["steps_run"] == 2
    assert summary["best_step"] == 0
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert metrics[2]["val"]["loss"] > metrics[0]["val"]["loss"]
    assert summary["best"]["val"] == metrics[0]["val"]


@pytest.mark.parametrize("early_stopping", [True, False], ids=["early_stopping", "disabled"])
def test_an_exhausted_budget_ends_the_run_even_without_early_stopping(
    tickets: dict[str, Path], tmp_path: Path, early_stopping: bool
) -> None:
    # Two calls a step: step 2's fill gets its one remaining call and runs out of budget.
    config = make_config(tickets, steps=4, batch_size=16).model_copy(deep=True)
    config.teacher.max_calls = 3
    if not early_stopping:
        config.plugins.disable = ["early_stopping"]
    summary = run(config, tmp_path / "run", progress=QUIET, entry_points_enabled=False)
    assert summary["stopped_early"] and summary["steps_run"] == 2
    if early_stopping:
        assert summary["stop_reason"] == "teacher budget exhausted (max_cost_usd / max_calls)"
    else:  # the pool refuses step 3's fill before any call
        assert summary["stop_reason"].startswith("budget: teacher budget: max_calls=3 reached")
    journal = read_jsonl(tmp_path / "run" / "journal.jsonl")
    assert sum(e["event"] == "teacher_call" for e in journal) == summary["teacher"]["calls"] == 3
    assert {e["step"] for e in journal if e["event"] == "sample"} == {1, 2}
    assert [m["step"] for m in read_jsonl(tmp_path / "run" / "metrics.jsonl")] == [0, 1, 2]


def test_cli_run_then_predict(
    tickets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        f'[data]\ntrain = "{tickets["train"]}"\ntest = "{tickets["test"]}"\n'
        f'[teacher]\nmodel = "pool:{tickets["pool"]}"\n[kd]\nsteps = 1\nbatch_size = 8\n'
    )
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    shown = capsys.readouterr().out
    assert "PGKD run finished" in shown and str(out / "best") in shown
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    preds = tmp_path / "preds.jsonl"
    assert main(["predict", str(out / "best"), str(tickets["test"]), "--out", str(preds)]) == 0
    rows = read_jsonl(preds)
    gold = read_jsonl(tickets["test"])
    assert len(rows) == len(gold) and len(rows[0]["top_k"]) == 3
    accuracy = sum(r["label"] == g["label"] for r, g in zip(rows, gold, strict=True)) / len(gold)
    assert accuracy > 0.5
    assert main(["resume", str(out)]) == 0
    assert "already finished" in capsys.readouterr().out


def test_cli_input_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[data]\ntrain = "missing.jsonl"\n[kd]\nsteps = 2\n')
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pgkd: error:") and "missing.jsonl: no such file" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("train", "extra", "expected"),
    [
        ("", "", "the file is empty"),
        ('{"text": "a"}\n', "", "missing field(s) label (fields found: text)"),
        ('{"text": "a", "label": "x"}\n' * 5, "", "needs at least 2 labels"),
        ("text;label\nhello;a\nthere;b\n", "", "too few to split off validation"),
        (
            '{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"}\n',
            "[kd]\nsteps = -1\n",
            "[kd] steps",
        ),
        (
            '{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"}\n',
            '[teacher]\nmodel = "nope:x"\n',
            "unknown provider 'nope'",
        ),
        (
            '{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"}\n',
            '[student]\nkind = "huge"\n',
            "unknown student 'huge'",
        ),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], train: str, extra: str, expected: str
) -> None:
    suffix = ".csv" if ";" in train else ".jsonl"
    (tmp_path / f"train{suffix}").write_text(
        train * (1 if "2 labels" in expected or not train.startswith("{") else 4)
    )
    config = tmp_path / "c.toml"
    config.write_text(f'[data]\ntrain = "train{suffix}"\n{extra}')
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_a_users_report_section_replaces_the_builtin_one(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    class MyReport:
        @hookimpl
        def on_eval(self, context: StepContext) -> Mapping[str, str]:
            return {"validation_report": "MY OWN REPORT"}

    recorder = RecordingTeachers()
    config = make_config(tickets, plugins=GUIDED_CALLS, steps=1)
    run(
        config,
        tmp_path / "run",
        progress=QUIET,
        extra_plugins=[recorder, MyReport()],
        entry_points_enabled=False,
    )
    assert recorder.requests
    assert all("MY OWN REPORT" in r.user for r in recorder.requests)
    assert not any("precision | recall" in r.user for r in recorder.requests)


def test_summary_offers_predict_unless_the_student_cannot(tmp_path: Path) -> None:
    from pgkd.commands.cli import format_summary

    base = {"best_model": "RUN/best", "samples": {}, "teacher": {}}
    assert "pgkd predict" in format_summary({**base, "task": "classification"}, tmp_path)
    assert "pgkd predict" in format_summary({**base, "task": "ner"}, tmp_path)
    assert "pgkd predict" not in format_summary({**base, "predicts": False}, tmp_path)
