"""Sending each teacher call of a step its own share of the budget.

pgkd's teacher pool asks the ``prepare_call`` hook for every call it issues; the hook of
:class:`~pgkd_budget.plugin.BudgetPlugin` answers with :func:`call_plan`: the step's prompt with
the budget section of that call's answer, asking that answer's number of samples. The calls
still run concurrently; retries, re-asks, the cache, accounting and the journal stay the pool's.
"""

from __future__ import annotations

from dataclasses import replace

from pgkd import CallPlan, Prompt

from pgkd_budget.budget import StepBudget
from pgkd_budget.section import render_section

__all__ = ["answer_prompt", "call_plan"]


def answer_prompt(prompt: Prompt, first: str, section: str) -> Prompt | None:
    """``prompt`` with its section ``first`` (answer 0's) replaced by ``section``; None when
    ``first`` is not in the prompt exactly once (another prompt plugin left it out)."""
    if prompt.user.count(first) != 1:
        return None
    return replace(prompt, user=prompt.user.replace(first, section))


def call_plan(budget: StepBudget, prompt: Prompt, call_index: int) -> CallPlan | None:
    """The plan of the step's call ``call_index``: answer ``call_index``'s section and size.

    Past the step's answers the pool is topping up after answers that fell short: when the
    step's counts make the whole batch, the answers are asked again in turn; when they hold
    fewer (the teacher's ``capacity`` ran low), the plan is over (0 samples) and the step gets
    what its answers bring. None when the prompt lacks the budget section (pgkd then sends
    the step's prompt as it is).
    """
    if call_index >= budget.calls and sum(budget.per_step.values()) < budget.batch:
        return CallPlan(prompt, 0)
    answer = call_index % budget.calls
    asked = answer_prompt(prompt, render_section(budget, 0), render_section(budget, answer))
    if asked is None:
        return None
    return CallPlan(asked, sum(budget.answers[answer].values()))
