"""Dealing a step's counts over its teacher answers, and planning each call of the step."""

from __future__ import annotations

from collections import Counter

import budget_kit as kit
from pgkd import CallPlan, Prompt

from pgkd_budget import BudgetPlugin, StepBudget, call_plan, deal
from pgkd_budget.answers import answer_prompt
from pgkd_budget.section import render_section


def test_deal_spreads_each_class_over_the_answers() -> None:
    answers = deal({"a": 8, "b": 4, "c": 3, "d": 1}, [4, 4, 4, 4])
    assert [sum(a.values()) for a in answers] == [4, 4, 4, 4]
    assert [a["a"] for a in answers] == [2, 2, 2, 2]
    assert [a["b"] for a in answers] == [1, 1, 1, 1]
    assert sum(a["c"] for a in answers) == 3 and sum(a["d"] for a in answers) == 1
    assert deal({"a": 8, "b": 4, "c": 3, "d": 1}, [4, 4, 4, 4]) == answers


def test_deal_fills_uneven_answers_exactly() -> None:
    answers = deal({"a": 5, "b": 2}, [4, 3])
    assert [sum(a.values()) for a in answers] == [4, 3]
    assert Counter(answers[0]) + Counter(answers[1]) == Counter({"a": 5, "b": 2})


def test_answer_prompt_replaces_only_the_budget_section() -> None:
    prompt = Prompt(system="s", user="intro\n\nSECTION 0\n\nwrite 8")
    assert answer_prompt(prompt, "SECTION 0", "SECTION 1") == Prompt(
        "s", "intro\n\nSECTION 1\n\nwrite 8"
    )
    assert answer_prompt(prompt, "missing", "x") is None


LABELS = ("a", "b", "c", "d")


def budget_for(batch_size: int = 32, capacity: dict[str, int] | None = None) -> StepBudget:
    plugin = BudgetPlugin(capacity=capacity.get if capacity is not None else None)
    validation = kit.evaluation(dict.fromkeys(LABELS, 0.6) | {"a": 0.1}, support=20)
    plugin.on_eval(context=kit.context(validation, batch_size=batch_size))
    return plugin.budgets[1]


def prompt_of(budget: StepBudget) -> Prompt:
    return Prompt("sys", f"intro\n\n{render_section(budget, 0)}\n\nWrite 8 examples.")


def test_each_call_gets_its_answers_section_and_size() -> None:
    budget = budget_for(batch_size=30)
    prompt = prompt_of(budget)
    plans = [call_plan(budget, prompt, i) for i in range(budget.calls)]
    assert [p.n_samples for p in plans if p] == [8, 8, 7, 7]
    for i, plan in enumerate(plans):
        assert plan is not None and plan.prompt.system == "sys"
        assert plan.prompt.user == prompt.user.replace(
            render_section(budget, 0), render_section(budget, i)
        )
    assert plans[0] is not None and plans[0].prompt == prompt
    # A top-up after short answers asks the answers again in turn.
    assert call_plan(budget, prompt, budget.calls + 1) == plans[1]


def test_a_plan_short_of_the_batch_ends_after_its_answers() -> None:
    budget = budget_for(capacity=dict.fromkeys(LABELS, 3))
    assert sum(budget.per_step.values()) == 12 < budget.batch and budget.calls == 2
    prompt = prompt_of(budget)
    assert [p.n_samples for i in range(2) if (p := call_plan(budget, prompt, i))] == [6, 6]
    assert call_plan(budget, prompt, 2) == CallPlan(prompt, 0)


def test_a_prompt_without_the_section_is_left_alone() -> None:
    budget = budget_for()
    assert call_plan(budget, Prompt("sys", "another plugin's prompt"), 1) is None
