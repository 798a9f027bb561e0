"""The strategy on hand-made step contexts: where the batch goes, and why."""

from __future__ import annotations

from collections import Counter
from typing import Any

import budget_kit as kit
import pytest
from pgkd import ConfigError, StepContext
from pgkd.testing import parse_counts

from pgkd_budget import (
    SECTION,
    BudgetOptions,
    BudgetPlugin,
    StepBudget,
    render_section,
    shrink,
)

LABELS = [f"class {i}" for i in range(8)]


def budget_of(plugin: BudgetPlugin, context: StepContext) -> StepBudget:
    section = plugin.on_eval(context=context)
    assert section is not None and SECTION in section
    return plugin.budgets[max(plugin.budgets)]


def even_context(
    step: int = 1,
    batch_size: int = 32,
    samples_per_call: int = 8,
    run_state: dict[str, Any] | None = None,
) -> StepContext:
    validation = kit.evaluation(dict.fromkeys(LABELS, 0.6), support=10)
    samples, predictions = kit.history(dict.fromkeys(LABELS, 20))
    return kit.context(
        validation,
        samples,
        predictions,
        step=step,
        batch_size=batch_size,
        samples_per_call=samples_per_call,
        run_state=run_state,
    )


def section_of(plugin: BudgetPlugin, context: StepContext) -> str:
    section = plugin.on_eval(context=context)
    assert section is not None
    return section[SECTION]


@pytest.mark.parametrize(
    ("batch_size", "samples_per_call"), [(32, 8), (32, 32), (16, 8), (30, 8), (5, 8), (41, 41)]
)
def test_the_budget_sums_exactly_to_the_batch(batch_size: int, samples_per_call: int) -> None:
    plugin = BudgetPlugin()
    context = even_context(batch_size=batch_size, samples_per_call=samples_per_call)
    budget = budget_of(plugin, context)
    assert sum(budget.per_step.values()) == batch_size
    assert sum(budget.planned.values()) == pytest.approx(batch_size)
    assert budget.calls == -(-batch_size // samples_per_call)
    sizes = [sum(answer.values()) for answer in budget.answers]
    assert sum(sizes) == batch_size and max(sizes) <= samples_per_call
    assert max(sizes) - min(sizes) <= 1
    merged: Counter[str] = Counter()
    for answer in budget.answers:
        merged.update(answer)
    assert dict(merged) == budget.per_step


def test_every_class_keeps_its_floor() -> None:
    # One class is hopeless and everything else is perfect: the floor still feeds every class.
    f1 = dict.fromkeys(LABELS, 1.0) | {LABELS[0]: 0.0}
    validation = kit.evaluation(f1, support=50)
    plugin = BudgetPlugin(BudgetOptions(floor_share=0.5, prior_share=0.0))
    budget = budget_of(plugin, kit.context(validation))
    floor = int(0.5 * 32 / len(LABELS))
    assert floor == 2
    assert all(count >= floor for count in budget.per_step.values())
    assert budget.per_step[LABELS[0]] > floor


def test_with_more_classes_than_samples_the_floor_rotates_through_every_class() -> None:
    labels = [f"topic {i}" for i in range(41)]
    validation = kit.evaluation(dict.fromkeys(labels, 0.4) | {labels[0]: 0.0}, support=5)
    plugin = BudgetPlugin()
    totals: Counter[str] = Counter()
    planned: Counter[str] = Counter()
    run_state: dict[str, Any] = {}
    for step in range(1, 11):
        budget = budget_of(plugin, kit.context(validation, step=step, run_state=run_state))
        assert sum(budget.per_step.values()) == 32
        totals.update(budget.per_step)
        planned.update(budget.planned)
    assert all(totals[label] > 0 for label in labels)
    # Rounding is carried, not lost: totals stay within the carry (2) of the plan.
    assert all(abs(totals[c] - planned[c]) <= 2 + 1e-9 for c in labels)


def test_weak_and_confused_classes_get_more() -> None:
    f1 = dict.fromkeys(LABELS, 0.8) | {LABELS[1]: 0.2, LABELS[2]: 0.5}
    confusion = {(LABELS[2], LABELS[3]): 4}
    validation = kit.evaluation(f1, support=20, confusion=confusion)
    samples, predictions = kit.history(dict.fromkeys(LABELS, 20), wrong={(LABELS[2], LABELS[3]): 6})
    plugin = BudgetPlugin()
    budget = budget_of(plugin, kit.context(validation, samples, predictions, samples_per_call=32))
    typical = budget.per_step[LABELS[5]]
    assert budget.per_step[LABELS[1]] > typical
    assert budget.per_step[LABELS[2]] > typical
    assert budget.pairs[0].true == LABELS[2] and budget.pairs[0].predicted == LABELS[3]
    assert budget.pairs[0].validation == 4 and budget.pairs[0].training == 6
    weakest = max(budget.weakness.values(), key=lambda w: w.score)
    assert weakest.label in (LABELS[1], LABELS[2])


def test_training_history_errors_count_without_any_validation_signal() -> None:
    validation = kit.evaluation(dict.fromkeys(LABELS, 0.6), support=10)
    samples, predictions = kit.history(
        dict.fromkeys(LABELS, 20), wrong={(LABELS[4], LABELS[5]): 10}
    )
    plugin = BudgetPlugin()
    budget = budget_of(plugin, kit.context(validation, samples, predictions, samples_per_call=32))
    assert budget.per_step[LABELS[4]] == max(budget.per_step.values())
    assert budget.weakness[LABELS[4]].train_error > budget.weakness[LABELS[0]].train_error


def test_shrinkage_stops_a_one_sample_class_with_f1_0_from_taking_everything() -> None:
    f1 = dict.fromkeys(LABELS, 0.6) | {LABELS[0]: 0.0}
    support = dict.fromkeys(LABELS, 20) | {LABELS[0]: 1}
    validation = kit.evaluation(f1, support=support)
    only_f1 = BudgetOptions(
        floor_share=0.0,
        prior_share=0.0,
        recall_weight=0.0,
        train_error_weight=0.0,
        confusion_weight=0.0,
    )
    raw = BudgetPlugin(only_f1.updated({"prior_strength": 0.0}))
    shrunk = BudgetPlugin(only_f1)
    context = kit.context(validation, samples_per_call=32)
    raw_budget, shrunk_budget = budget_of(raw, context), budget_of(shrunk, context)
    assert raw_budget.per_step[LABELS[0]] >= 6
    assert shrunk_budget.per_step[LABELS[0]] <= 5
    # With the default floor and prior as well, one unlucky sample moves little.
    default = budget_of(BudgetPlugin(), context)
    assert default.per_step[LABELS[0]] <= 32 / len(LABELS) + 2
    assert shrink(0.0, 1, 0.6, 10) == pytest.approx(6 / 11)


def test_the_budget_is_deterministic() -> None:
    f1 = {c: 0.3 + 0.07 * i for i, c in enumerate(LABELS)}
    validation = kit.evaluation(f1, support=5, confusion={(LABELS[0], LABELS[1]): 2})
    samples, predictions = kit.history(dict.fromkeys(LABELS, 10), {(LABELS[3], LABELS[0]): 3})

    def texts() -> list[str]:
        plugin, run_state = BudgetPlugin(), {}
        return [
            section_of(
                plugin, kit.context(validation, samples, predictions, step=s, run_state=run_state)
            )
            for s in range(1, 6)
        ]

    first = texts()
    assert first == texts()
    assert len(set(first)) > 1  # the rotation moves the rounding between steps


def test_capacity_keeps_the_budget_to_what_the_teacher_can_write() -> None:
    validation = kit.evaluation(dict.fromkeys(LABELS, 0.6) | {LABELS[0]: 0.0}, support=30)
    left = {LABELS[0]: 1, LABELS[1]: 0}
    plugin = BudgetPlugin(capacity=left.get)
    budget = budget_of(plugin, kit.context(validation))
    assert budget.per_step[LABELS[0]] == 1 and budget.per_step[LABELS[1]] == 0
    assert sum(budget.per_step.values()) == 32


def test_capacity_counts_every_repeat_when_calls_share_one_answer() -> None:
    validation = kit.evaluation(dict.fromkeys(LABELS, 0.6) | {LABELS[0]: 0.0}, support=30)
    left = {LABELS[0]: 7, LABELS[1]: 3}
    plugin = BudgetPlugin(BudgetOptions(split_calls=False), capacity=left.get)
    budget = budget_of(plugin, kit.context(validation))
    assert budget.calls == 4
    assert budget.answers[0][LABELS[0]] * 4 <= 7 and budget.answers[0][LABELS[1]] == 0


def test_the_counts_line_is_what_the_simulation_teacher_reads() -> None:
    f1 = dict.fromkeys(LABELS, 0.7) | {LABELS[6]: 0.1}
    validation = kit.evaluation(f1, support=20, confusion={(LABELS[6], LABELS[7]): 5})
    plugin = BudgetPlugin()
    text = section_of(plugin, kit.context(validation))
    budget = plugin.budgets[1]
    asked = parse_counts(text)
    assert asked == {c: n for c, n in budget.answers[0].items() if n > 0}
    assert sum(asked.values()) == 8
    assert f'"{LABELS[6]}" examples that a reader could not mistake for "{LABELS[7]}"' in text
    assert (
        "32 examples are split over 4 answers, each with its own counts; this is answer 1." in text
    )
    for i, answer in enumerate(budget.answers):
        assert parse_counts(render_section(budget, i)) == {c: n for c, n in answer.items() if n}


def test_other_tasks_are_left_alone() -> None:
    validation = kit.evaluation(dict.fromkeys(LABELS, 0.5))
    assert BudgetPlugin().on_eval(context=kit.context(validation, task="ner")) is None


def test_a_new_run_with_the_same_instance_starts_a_fresh_rotation() -> None:
    plugin, first_run, second_run = BudgetPlugin(), {}, {}
    first = [section_of(plugin, even_context(step=s, run_state=first_run)) for s in (1, 2, 3)]
    again = [section_of(plugin, even_context(step=s, run_state=second_run)) for s in (1, 2, 3)]
    assert first == again and sorted(plugin.budgets) == [1, 2, 3]
    assert first_run == second_run and set(first_run["budget"]["carry"]) == set(LABELS)


def test_options_are_checked_and_read_from_a_plugins_options_table() -> None:
    with pytest.raises(ConfigError, match="floor_share"):
        BudgetOptions(floor_share=1.5)
    with pytest.raises(ConfigError, match="at most 1"):
        BudgetOptions(floor_share=0.6, prior_share=0.6)
    with pytest.raises(ConfigError, match="weight"):
        BudgetOptions(f1_weight=0, recall_weight=0, train_error_weight=0, confusion_weight=0)
    with pytest.raises(ConfigError, match="unknown key"):
        BudgetOptions().updated({"flor_share": 0.1})
    plugin = BudgetPlugin()
    settings = kit.settings(options={"budget": {"floor_share": 0.1, "tasks": ["ner"]}})
    options = plugin.options_for(settings)
    assert options.floor_share == 0.1 and options.tasks == ("ner",)
    assert plugin.options_for(kit.settings()) is plugin.options
