"""Per-call views: each call of a step sees its own slice of the example lists and its own
class focus; every listed example reaches some call; each call's prompt is checked for
held-out text; pgkd-budget's per-call plans keep their counts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pgkd.build import call_preparer
from pgkd.builtin.prompt import example_line, render_prompt
from pgkd.builtin.selection import CorrectIncorrectSelector, FewShotSelector, HardNegativeMiner
from pgkd.builtin.validation_report import render_report
from pgkd.builtin.views import class_focus, view_indices
from pgkd.config import KDConfig, PluginsConfig, config_from_mapping
from pgkd.errors import ConfigError
from pgkd.guard import HeldOutGuard
from pgkd.plugins import build_plugin_manager
from pgkd.progress import Progress
from pgkd.runner import run
from pgkd.tasks.classification import ClassificationTask, score_probabilities
from pgkd.types import CallPlan, Prediction, Prompt, Sample, StepContext

LABELS = ("billing", "shipping", "returns", "account")
HELD_OUT = "a validation message about a late parcel and a refund"


class RecordingGuard(HeldOutGuard):
    """The real guard, keeping every prompt text it was asked to check."""

    def __init__(self, texts: list[str]) -> None:
        super().__init__(texts)
        self.checked: list[str] = []

    def check_prompt(self, text: str) -> None:
        self.checked.append(text)
        super().check_prompt(text)


def step_context(options: dict[str, Any] | None = None) -> StepContext:
    probs = np.array(
        [[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1], [0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]],
        dtype=np.float32,
    )
    evaluation, _ = score_probabilities(
        probs, ["billing", "shipping", "returns", "account"], LABELS
    )
    history = [Sample(f"ticket number {i} about {LABELS[i % 4]}", LABELS[i % 4]) for i in range(60)]
    preds = [
        Prediction(LABELS[i % 4] if i % 3 else LABELS[(i + 1) % 4], i / 60, bool(i % 3))
        for i in range(60)
    ]
    ctx = StepContext(
        step=1,
        task=ClassificationTask(),
        labels=LABELS,
        history=history,
        train_predictions=preds,
        validation=evaluation,
        settings=SimpleNamespace(
            kd=KDConfig(few_shot=8, correct=8, incorrect=8, hard_negatives=8),
            plugins=PluginsConfig(options={"call_views": options or {}}),
        ),
        seed=0,
        val_losses=(1.0,),
        guard=HeldOutGuard([HELD_OUT]),
    )
    for selector in (FewShotSelector(), CorrectIncorrectSelector(), HardNegativeMiner()):
        ctx.examples.update({k: list(v) for k, v in selector.select_examples(ctx).items()})
    ctx.report["validation_report"] = render_report(ctx.validation)
    return ctx


def plans(
    ctx: StepContext,
    n_calls: int,
    extra: list[object] | None = None,
    prompt: Prompt | None = None,
) -> list[CallPlan]:
    pm = build_plugin_manager(entry_points_enabled=False, extra=extra or [])
    guard = RecordingGuard([HELD_OUT])
    preparer = call_preparer(pm, guard)
    prompt = prompt or render_prompt(ctx, 8)
    out = []
    for i in range(n_calls):
        plan = preparer(context=ctx, prompt=prompt, call_index=i, n_calls=n_calls, n_samples=8)
        assert plan is not None
        out.append(plan)
    # The held-out check ran on every call's own prompt.
    assert all(plan.prompt.text in guard.checked for plan in out)
    return out


@pytest.mark.parametrize("size", [0, 1, 3, 7, 16])
@pytest.mark.parametrize("n_calls", [1, 2, 4, 5])
def test_every_item_reaches_a_call_and_each_call_gets_its_minimum(size: int, n_calls: int) -> None:
    slices = [view_indices(size, i, n_calls, 2) for i in range(n_calls)]
    assert set().union(*map(set, slices)) == set(range(size))
    assert all(len(s) >= min(size, 2) for s in slices)
    if size >= 2 * n_calls:
        # Long lists are split, not repeated: no example is shown to two calls.
        assert sum(map(len, slices)) == size


def test_calls_of_one_step_get_different_prompts_and_share_the_examples_out() -> None:
    ctx = step_context()
    sent = [plan.prompt.user for plan in plans(ctx, 4)]
    assert len(set(sent)) == 4
    for name, examples in ctx.examples.items():
        assert examples, name
        for example in examples:
            assert any(example_line(example) in user for user in sent), (name, example)
    step_prompt = render_prompt(ctx, 8).user
    for user in sent:
        assert len(user) < len(step_prompt) + 300
        assert ctx.report["validation_report"] in user
        assert all(f"- {label}" in user for label in LABELS)


def test_each_call_favours_its_own_labels_weakest_first() -> None:
    ctx = step_context()
    focus = [class_focus(ctx, i, 2) for i in range(2)]
    assert sorted(focus[0] + focus[1]) == sorted(LABELS)
    weakest = min(LABELS, key=lambda label: ctx.validation.per_class[label].f1)
    assert focus[0][0] == weakest
    sent = plans(ctx, 2)
    for i, plan in enumerate(sent):
        assert plan.n_samples == 8
        last = plan.prompt.user.rsplit("\n\n", 1)[1]
        assert f"answer {i + 1} of 2" in last
        assert all(json.dumps(label) in last for label in focus[i])


def test_focus_can_be_turned_off_and_a_bad_option_is_named() -> None:
    sent = plans(step_context({"focus": False}), 2)
    assert all("favour these labels" not in plan.prompt.user for plan in sent)
    with pytest.raises(ConfigError, match=r"\[plugins.options.call_views\].*focs"):
        plans(step_context({"focs": False}), 2)
    with pytest.raises(ConfigError, match="min_examples"):
        plans(step_context({"min_examples": -1}), 2)


def test_one_call_or_disabled_sends_the_step_prompt() -> None:
    ctx = step_context()
    pm = build_plugin_manager(entry_points_enabled=False)
    preparer = call_preparer(pm, HeldOutGuard([HELD_OUT]))
    prompt = render_prompt(ctx, 8)
    assert preparer(context=ctx, prompt=prompt, call_index=0, n_calls=1, n_samples=8) is None
    pm = build_plugin_manager(entry_points_enabled=False, disable=["call_views"])
    preparer = call_preparer(pm, HeldOutGuard([HELD_OUT]))
    assert preparer(context=ctx, prompt=prompt, call_index=1, n_calls=3, n_samples=8) is None


def test_a_plan_from_another_plugin_keeps_its_counts_and_gets_the_view() -> None:
    budget = pytest.importorskip("pgkd_budget")
    plugin = budget.BudgetPlugin()
    ctx = step_context()
    ctx.report.update(plugin.on_eval(ctx) or {})
    sent = plans(ctx, 4, extra=[plugin])
    step_budget = plugin.budgets[1]
    for i, plan in enumerate(sent):
        assert plan.n_samples == sum(step_budget.answers[i].values())
        assert budget.counts_line(step_budget.answers[i]) in plan.prompt.user
        assert "favour these labels" not in plan.prompt.user
    hard = ctx.examples["hard_negatives"]
    shown = [sum(example_line(e) in plan.prompt.user for plan in sent) for e in hard]
    assert min(shown) >= 1 and sum(shown) < 4 * len(hard)


def test_a_run_journals_different_prompts_per_call(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    def journal(disable: list[str]) -> list[dict[str, Any]]:
        config = config_from_mapping(
            {
                "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
                "teacher": {"model": f"pool:{tickets['pool']}", "concurrency": 2},
                "student": {"kind": "frozen", "max_length": 64},
                "kd": {"steps": 1, "batch_size": 16},
                "plugins": {"disable": disable},
            }
        )
        out = tmp_path / f"run{len(disable)}"
        run(config, out, progress=Progress(live=False, quiet=True), entry_points_enabled=False)
        lines = (out / "journal.jsonl").read_text().splitlines()
        return [e for e in map(json.loads, lines) if e.get("event") == "call_prompt"]

    viewed = journal([])
    assert sorted(e["call_id"] for e in viewed) == ["s1c0", "s1c1"]
    assert viewed[0]["user"] != viewed[1]["user"]
    assert journal(["call_views"]) == []


def test_what_a_call_shows_as_data_is_its_own_slice() -> None:
    """A teacher that reads the prompt's contents (the SIMULATION teacher) sees exactly what the
    call's text shows: each list cut to the call's slice, the rest as the step's prompt had it."""
    ctx = step_context()
    step_prompt = render_prompt(ctx, 8)
    assert step_prompt.contents is not None
    for plan in plans(ctx, 4):
        contents = plan.prompt.contents
        assert contents is not None
        assert set(contents.examples) == set(step_prompt.contents.examples)
        for name, shown in contents.examples.items():
            assert len(shown) < len(step_prompt.contents.examples[name]), name
            assert all(example_line(example) in plan.prompt.user for example in shown)
        assert contents.validation is step_prompt.contents.validation


def test_explore_sends_a_share_of_the_calls_a_plain_prompt() -> None:
    from pgkd.builtin.views import explores

    assert [explores(i, 0.5) for i in range(4)] == [False, True, False, True]
    assert [explores(i, 0.25) for i in range(8)].count(True) == 2
    assert not any(explores(i, 0.0) for i in range(8))
    assert all(explores(i, 1.0) for i in range(8))
    ctx = step_context({"explore": 0.5})
    sent = plans(ctx, 4)
    report = ctx.report["validation_report"]
    for i, plan in enumerate(sent):
        contents = plan.prompt.contents
        assert contents is not None and plan.n_samples == 8
        if i % 2:
            # Plain: the labels and few-shot examples only, nothing about the student.
            assert report not in plan.prompt.user and "gets wrong" not in plan.prompt.user
            assert set(contents.examples) == {"few_shot"} and contents.validation is None
            assert all(f"- {label}" in plan.prompt.user for label in LABELS)
        else:
            assert report in plan.prompt.user and "incorrect" in contents.examples
    # Every call plain (the default preset): each shows its own slice of the few-shot examples,
    # and a section another plugin added stays (only the built-in guidance goes).
    every_ctx = step_context({"explore": 1.0})
    every_ctx.report["house_rules"] = "Mention an order number in every ticket."
    every = plans(every_ctx, 4)
    assert all("Mention an order number" in plan.prompt.user for plan in every)
    shown = [plan.prompt.contents.examples["few_shot"] for plan in every if plan.prompt.contents]
    assert len(shown) == 4 and len({tuple(e.sample.text for e in x) for x in shown}) == 4
    assert all(report not in plan.prompt.user for plan in every)
    # A lone call is plain too.
    (lone,) = plans(step_context({"explore": 1.0}), 1)
    assert report not in lone.prompt.user and lone.prompt.contents is not None
    assert lone.prompt.contents.validation is None
    with pytest.raises(ConfigError, match="explore = 2 must be a number from 0 to 1"):
        plans(step_context({"explore": 2}), 2)
