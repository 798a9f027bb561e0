"""The hooks: every KD step, a per-class sample budget as a named prompt section, and each
teacher call of the step asked for its own share of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pgkd import CallPlan, Prompt, StepContext, hookimpl

from pgkd_budget.allocation import Rotation
from pgkd_budget.answers import call_plan
from pgkd_budget.budget import Capacity, StepBudget, step_budget
from pgkd_budget.options import BudgetOptions
from pgkd_budget.section import SECTION, render_section

__all__ = ["BudgetPlugin"]

#: ``[plugins.options.budget]`` once the core config has a free-form ``[plugins.options]``.
OPTIONS_KEY = "budget"
#: The plugin's key in ``StepContext.run_state``: ``{"carry": {label: samples}}``.
STATE_KEY = "budget"


class BudgetPlugin:
    """Splits each step's batch across classes by weakness and tells the teacher exactly how
    many samples of which classes to write (and which confusions to address).

    ``options`` overrides the defaults (:class:`BudgetOptions`); ``capacity(label)``, when
    given, says how many more samples of a class the teacher can write (a simulation pool
    runs dry; an LLM does not). The rounding carry goes from step to step in the run's
    ``run_state``, so a resumed run carries on where it stopped; the instance keeps the
    budgets it handed out (``budgets``, by step).
    """

    def __init__(
        self, options: BudgetOptions | None = None, *, capacity: Capacity | None = None
    ) -> None:
        self.options = options or BudgetOptions()
        self.capacity = capacity
        self.budgets: dict[int, StepBudget] = {}

    @hookimpl
    def on_eval(self, context: StepContext) -> Mapping[str, str] | None:
        """The step's budget; the section names the first answer's counts."""
        options = self.options_for(context.settings)
        if getattr(context.task, "name", None) not in options.tasks or not context.labels:
            return None
        if self.budgets and context.step <= max(self.budgets):
            # A new run (or a resume) with the same instance: these budgets were the old one's.
            self.budgets.clear()
        saved = context.run_state.get(STATE_KEY) or {}
        rotation = Rotation(max_carry=options.max_carry, carry=dict(saved.get("carry") or {}))
        budget = step_budget(context, options, rotation, self.capacity)
        context.run_state[STATE_KEY] = {"carry": rotation.carry}
        self.budgets[context.step] = budget
        return {SECTION: render_section(budget, 0)}

    @hookimpl
    def prepare_call(
        self,
        context: StepContext,
        prompt: Prompt,
        call_index: int,
        n_calls: int,
        n_samples: int,
    ) -> CallPlan | None:
        """Each call of the step its own answer's counts and size (see
        :func:`~pgkd_budget.answers.call_plan`); with ``split_calls`` off, or in a step
        without a budget, every call gets the step's prompt."""
        budget = self.budgets.get(context.step)
        if budget is None or not self.options_for(context.settings).split_calls:
            return None
        return call_plan(budget, prompt, call_index)

    def options_for(self, settings: Any) -> BudgetOptions:
        """The constructor's options, updated from ``[plugins.options.budget]`` when the run's
        config has such a table (pgkd's ``Config`` has none yet)."""
        table = getattr(getattr(settings, "plugins", None), "options", None)
        if isinstance(table, Mapping) and isinstance(table.get(OPTIONS_KEY), Mapping):
            return self.options.updated(table[OPTIONS_KEY])
        return self.options
