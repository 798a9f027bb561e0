"""Whole runs through pgkd's real loop: the ner task, the ner-token student, the entity report
and the NER prompt, with a test teacher that answers like an LLM (entities named by their text)
from the shipped held-out pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pgkd import (
    Config,
    Sample,
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    config_from_mapping,
    hookimpl,
)
from pgkd.testing import cli_main as main
from pgkd.testing import prepare_splits, quiet_progress, run

import pgkd_ner
from pgkd_ner.simulation import HeldOutNerTeacher
from pgkd_ner.task import NerTask
from pgkd_ner.token_student import TokenClassifierStudent

QUIET = quiet_progress()
EXAMPLE = Path(__file__).parents[1] / "examples" / "ner.toml"
#: Every this-many-th record the teacher names an entity that is not in its sentence.
BAD_EVERY = 7


class RecordingTeacher(HeldOutNerTeacher):
    """The plugin's ner-pool teacher, keeping every request; every ``BAD_EVERY``-th sentence
    names an entity that is not in it, as LLMs sometimes do."""

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.served = 0
        self.requests: list[TeacherRequest] = []

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        self.requests.append(request)
        return await super().complete(request)

    def records(self, drawn: list[Sample]) -> list[dict[str, Any]]:
        out = super().records(drawn)
        for record in out:
            self.served += 1
            if self.served % BAD_EVERY == 0:
                record["entities"].append({"text": "Atlantis", "label": "LOC"})
        return out


class TeacherPlugin:
    def __init__(self) -> None:
        self.teachers: list[RecordingTeacher] = []

    @hookimpl
    def register_teachers(self, register: Any) -> None:
        def build(settings: TeacherSettings) -> RecordingTeacher:
            teacher = RecordingTeacher(settings)
            self.teachers.append(teacher)
            return teacher

        register("recording", build)


def ner_config(data_dir: Path, backbone: Path, **kd: Any) -> Config:
    return config_from_mapping(
        {
            "task": {"name": "ner"},
            "data": {"train": str(data_dir / "train.jsonl"), "test": str(data_dir / "test.jsonl")},
            "teacher": {
                "model": f"recording:{data_dir / 'pool.jsonl'}",
                "concurrency": 2,
                "samples_per_call": 8,
            },
            "student": {
                "kind": "ner-token",
                "backbone": str(backbone),
                "max_length": 64,
                "batch_size": 16,
                "learning_rate": 5e-3,
                "epochs": 6,
                "patience": 2,
                "threads": 1,
            },
            "kd": {"steps": 2, "patience": 5, "batch_size": 16, "few_shot": 4, **kd},
        }
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def finished(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, tiny_backbone: Path
) -> tuple[Path, dict[str, Any], RecordingTeacher]:
    out = tmp_path_factory.mktemp("ner") / "run"
    teachers = TeacherPlugin()
    summary = run(
        ner_config(data_dir, tiny_backbone),
        out,
        progress=QUIET,
        extra_plugins=[pgkd_ner, teachers],
        entry_points_enabled=False,
    )
    return out, summary, teachers.teachers[0]


def test_a_run_steps_through_the_loop_and_scores_entities(
    finished: tuple[Path, dict[str, Any], RecordingTeacher],
) -> None:
    out, summary, _ = finished
    assert summary["steps_run"] == 2 and not summary["stopped_early"]
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [0, 1, 2]
    for line in metrics:
        for split in ("val", "test"):
            assert {"f1", "precision", "recall", "macro_f1", "accuracy", "loss"} <= set(line[split])
            assert set(line[split]["per_class"]) == {"LOC", "ORG", "PER"}
    assert summary["best"]["test"]["f1"] > 0.2


def test_mentions_are_resolved_and_missing_ones_rejected(
    finished: tuple[Path, dict[str, Any], RecordingTeacher], data_dir: Path, tiny_backbone: Path
) -> None:
    out, summary, _ = finished
    events = [e for e in read_jsonl(out / "journal.jsonl") if e.get("event") == "sample"]
    assert len(events) == summary["samples"]["generated"]
    bad = [e for e in events if any(x["text"] == "Atlantis" for x in e["record"]["entities"])]
    assert bad and not any(e["accepted"] for e in bad)
    for event in bad:
        (rejection,) = event["rejections"]
        assert rejection["reason"] == "unparsable"
        assert rejection["detail"].startswith("entities[")
        assert "'Atlantis' does not occur" in rejection["detail"]
        assert event["reasons"] == [f"unparsable: {rejection['detail']}"]
    # The pool keeps asking until each step has its 16 parsed sentences; all are new and valid.
    accepted = [e for e in events if e["accepted"]]
    assert len(events) - len(bad) == len(accepted) == summary["samples"]["accepted"] == 32
    seed_train = prepare_splits(ner_config(data_dir, tiny_backbone).data, NerTask(), 0).train
    assert summary["history_size"] == len(seed_train) + 32


def test_the_teacher_sees_the_ner_prompt_and_schema(
    finished: tuple[Path, dict[str, Any], RecordingTeacher],
) -> None:
    _, _, teacher = finished
    request = teacher.requests[-1]
    assert "named-entity recognizer" in request.system
    user = request.user
    assert "The student marks entities of exactly these types" in user
    assert "overall, an entity counts only when its exact span and type are right" in user
    assert "type | precision | recall | f1 | support" in user
    assert "class | precision" not in user  # the built-in classification table is not shown
    assert "Example sentences with their entities:" in user
    assert "Sentences the student gets wrong (true entities / predicted entities):" in user
    assert '"entities": [{"text": "<entity exactly as written>"' in user
    assert request.schema is not None and request.schema["items"]["required"] == [
        "text",
        "entities",
    ]


def test_the_best_student_loads_back(
    finished: tuple[Path, dict[str, Any], RecordingTeacher],
) -> None:
    out, _, _ = finished
    student = TokenClassifierStudent.load(out / "best")
    assert student.labels == ("LOC", "ORG", "PER")
    assert len(student.tag(["Maria Lopez flew to Paris."])) == 1


def test_the_ablation_switch_removes_the_entity_report(
    tmp_path: Path, data_dir: Path, tiny_backbone: Path
) -> None:
    teachers = TeacherPlugin()
    config = ner_config(data_dir, tiny_backbone, steps=1)
    config.plugins.disable = ["validation_report", "hard_negatives"]
    config.student.epochs = 1
    run(
        config,
        tmp_path / "run",
        progress=QUIET,
        extra_plugins=[pgkd_ner, teachers],
        entry_points_enabled=False,
    )
    user = teachers.teachers[0].requests[0].user
    assert "named-entity" in teachers.teachers[0].requests[0].system
    assert "overall, an entity counts" not in user
    assert "confident" not in user.split("Write ")[0]


def test_the_readme_quick_start_runs_through_the_cli(
    tmp_path: Path, tiny_backbone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pgkd run examples/ner.toml`` with the installed entry point (on a tiny backbone)."""
    monkeypatch.setenv("PGKD_PLUGINS", "ner")
    out = tmp_path / "run"
    tiny = [f"student.backbone={tiny_backbone}", "student.epochs=2", "student.threads=1"]
    tiny += ["kd.steps=1", "student.learning_rate=5e-3"]
    argv = ["run", str(EXAMPLE), "--out", str(out), "--quiet"]
    assert main([*argv, *(arg for item in tiny for arg in ("--set", item))]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps_run"] == 1 and summary["samples"]["accepted"] == 16
    assert TokenClassifierStudent.load(out / "best").labels == ("LOC", "ORG", "PER")
