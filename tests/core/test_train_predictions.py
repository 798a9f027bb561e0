"""``[kd] train_predictions`` and ``folds``: which predictions on the history the selection
built-ins mine, how a wrong choice is reported, and what a run records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgkd.config import KDConfig, config_from_mapping, load_config
from pgkd.errors import ConfigError
from pgkd.progress import Progress
from pgkd.runner import run
from pgkd.students.base import StudentSettings
from pgkd.students.frozen import FrozenEncoderStudent
from pgkd.students.history_predictions import choose_kind, predict_history
from pgkd.students.transformer import TransformerStudent
from pgkd.tasks.classification import ClassificationTask
from pgkd.types import Evaluation, Prediction, Sample

LABELS = ("billing", "shipping")


class PlainTask:
    """A task as a plugin might write it (the NER plugin's, say): no
    ``out_of_fold_predictions``, so its history is always scored in sample."""

    name = "plain"


def frozen() -> FrozenEncoderStudent:
    return FrozenEncoderStudent(StudentSettings(kind="frozen", threads=1), LABELS, 0)


def transformer() -> TransformerStudent:
    return TransformerStudent(StudentSettings(kind="transformer", threads=1), LABELS, 0)


def test_defaults_and_bad_values_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[data]\ntrain = "t.jsonl"\n', encoding="utf-8")
    config = load_config(path)
    assert (config.kd.train_predictions, config.kd.folds) == ("auto", 5)
    assert load_config(path, ["kd.train_predictions=in_sample"]).kd.train_predictions == (
        "in_sample"
    )
    with pytest.raises(ConfigError, match=r"run\.toml: \[kd\] folds: .*greater than or equal to 2"):
        load_config(path, ["kd.folds=1"])
    with pytest.raises(ConfigError, match=r"\[kd\] train_predictions: .*'out_of_fold'"):
        load_config(path, ["kd.train_predictions=oof"])


def test_auto_is_out_of_fold_only_when_task_and_student_can() -> None:
    task, plain = ClassificationTask(), PlainTask()
    auto = KDConfig()
    assert choose_kind(auto, task, frozen()) == "out_of_fold"
    assert choose_kind(auto, task, transformer()) == "in_sample"
    assert choose_kind(auto, plain, frozen()) == "in_sample"
    in_sample = KDConfig(train_predictions="in_sample")
    assert choose_kind(in_sample, task, frozen()) == "in_sample"
    assert choose_kind(KDConfig(train_predictions="out_of_fold"), task, frozen()) == "out_of_fold"


@pytest.mark.parametrize("make_task", [ClassificationTask, PlainTask])
def test_out_of_fold_on_a_student_that_cannot_says_what_to_set(make_task: type[Any]) -> None:
    kd = KDConfig(train_predictions="out_of_fold")
    student = transformer() if make_task is ClassificationTask else frozen()
    with pytest.raises(ConfigError) as caught:
        choose_kind(kd, make_task(), student)
    message = str(caught.value)
    assert message.startswith("[kd] train_predictions: ") and "\n" not in message
    assert 'train_predictions = "auto" or "in_sample"' in message


class DecliningTask(ClassificationTask):
    """Offers out-of-fold predictions but has none to give (as for a history of one sample)."""

    def out_of_fold_predictions(self, *args: Any, **kwargs: Any) -> list[Prediction] | None:
        return None

    def evaluate(self, *args: Any, **kwargs: Any) -> tuple[Evaluation, list[Prediction]]:
        evaluation = Evaluation(loss=0.0, metrics={}, per_class={})
        return evaluation, [Prediction("billing", 1.0, True)]


def test_a_declined_out_of_fold_falls_back_and_says_so() -> None:
    history = [Sample("refund please", "billing")]
    predictions, kind = predict_history(
        DecliningTask(), frozen(), history, LABELS, "out_of_fold", folds=5, seed=0
    )
    assert kind == "in_sample" and predictions == [Prediction("billing", 1.0, True)]


def run_model_0(tickets: dict[str, Path], out: Path, mode: str) -> dict[str, Any]:
    config = config_from_mapping(
        {
            "data": {"train": str(tickets["train"])},
            "teacher": {"model": f"pool:{tickets['pool']}"},
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": 0, "train_predictions": mode, "folds": 4},
        }
    )
    run(config, out, progress=Progress(live=False, quiet=True), entry_points_enabled=False)
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    record: dict[str, Any] = json.loads(lines[0])
    return record


def test_a_run_records_which_predictions_it_mined(tickets: dict[str, Path], tmp_path: Path) -> None:
    oof = run_model_0(tickets, tmp_path / "oof", "auto")["train_predictions"]
    in_sample = run_model_0(tickets, tmp_path / "in", "in_sample")["train_predictions"]
    assert oof["kind"] == "out_of_fold" and oof["folds"] == 4
    assert in_sample == {"kind": "in_sample", "misclassified": in_sample["misclassified"]}
    assert oof["misclassified"] > in_sample["misclassified"]
