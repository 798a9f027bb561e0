"""The package as pgkd loads it: entry point, registrations, and no effect on other tasks."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pgkd import (
    ClassificationTask,
    ClassScore,
    Evaluation,
    Example,
    Prediction,
    Sample,
    StepContext,
    load_config,
)
from pgkd.testing import build_plugin_manager, build_registry, describe, prepare_splits

import pgkd_ner
from pgkd_ner.spans import Span
from pgkd_ner.task import NerTask

EXAMPLE = Path(__file__).parents[1] / "examples" / "ner.toml"
HOOKS = ["build_prompt", "on_eval", "register_students", "register_tasks", "register_teachers"]


def context(task: object, samples: list[Sample], predictions: list[Prediction]) -> StepContext:
    labels = ("LOC", "PER")
    evaluation = Evaluation(
        loss=0.4,
        metrics={"f1": 0.5, "precision": 0.5, "recall": 0.5, "macro_f1": 0.5, "accuracy": 0.5},
        per_class={label: ClassScore(0.5, 0.5, 0.5, 3) for label in labels},
        labels=labels,
        confusion=((2, 1), (0, 3)),
    )
    return StepContext(
        step=1,
        task=task,
        labels=labels,
        history=samples,
        train_predictions=predictions,
        validation=evaluation,
        settings=None,
        seed=0,
    )


def test_the_entry_point_names_the_package() -> None:
    (ep,) = [ep for ep in entry_points(group="pgkd") if ep.name == "ner"]
    assert ep.value == "pgkd_ner" and ep.load() is pgkd_ner


def test_allow_listed_entry_point_loads_and_registers_task_and_student(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGKD_PLUGINS", "ner")
    pm = build_plugin_manager()
    assert ("ner", HOOKS) in describe(pm)
    registry = build_registry(pm)
    assert isinstance(registry.tasks["ner"](), NerTask)
    assert "ner-token" in registry.students and "classification" in registry.tasks
    assert "ner-pool" in registry.teachers and "pool" in registry.teachers


def test_empty_allow_list_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGKD_PLUGINS", "")
    assert "ner" not in [name for name, _ in describe(build_plugin_manager())]


def test_classification_runs_keep_the_builtin_report_and_prompt() -> None:
    pm = build_plugin_manager(entry_points_enabled=False, extra=[pgkd_ner])
    samples = [Sample("refund please", "billing"), Sample("where is it", "shipping")]
    preds = [Prediction("billing", 0.9, True), Prediction("billing", 0.8, False)]
    ctx = context(ClassificationTask(), samples, preds)
    sections = [s for s in pm.hook.on_eval(context=ctx) if s]
    assert [sorted(s) for s in sections] == [["validation_report"]]
    prompt = pm.hook.build_prompt(context=ctx, n_samples=4)
    assert prompt.user.startswith("The student classifies texts")


def test_ner_runs_get_the_entity_report_and_prompt() -> None:
    pm = build_plugin_manager(entry_points_enabled=False, extra=[pgkd_ner])
    text = "Tim Cook flew to Paris."
    gold = (Span(0, 8, "PER"), Span(17, 22, "LOC"))
    samples = [Sample(text, gold)]
    preds = [Prediction((Span(0, 8, "PER"), Span(17, 22, "PER")), 0.91, False)]
    ctx = context(NerTask(), samples, preds)
    for section in pm.hook.on_eval(context=ctx):
        ctx.report.update(section or {})
    assert "- LOC tagged as PER: 1" in ctx.report["entity_report"]
    ctx.examples = {
        "hard_negatives": [Example(samples[0], preds[0])],
        "few_shot": [Example(samples[0])],
    }
    prompt = pm.hook.build_prompt(context=ctx, n_samples=3)
    assert "- LOC\n- PER" in prompt.user
    assert '- "Tim Cook flew to Paris." -> [Tim Cook/PER, Paris/LOC]' in prompt.user
    assert (
        '- "Tim Cook flew to Paris."\n  true: [Tim Cook/PER, Paris/LOC]\n'
        "  predicted: [Tim Cook/PER, Paris/PER] (0.91)"
    ) in prompt.user
    assert "Answer with a JSON list of 3 objects" in prompt.user
    assert prompt.user.index("weakest types") < prompt.user.index("confident")


def test_the_example_config_names_the_task_student_and_shipped_data() -> None:
    config = load_config(EXAMPLE)
    assert (config.task.name, config.student.kind) == ("ner", "ner-token")
    splits = prepare_splits(config.data, NerTask(), config.kd.seed)
    assert splits.labels == ("LOC", "ORG", "PER") and len(splits.test) == 50
