"""pgkd-budget: a per-class sample budget as a pgkd selection strategy, packaged as an outside
plugin.

The entry point ``budget = "pgkd_budget:BudgetPlugin"`` (group ``pgkd``) registers one
:class:`BudgetPlugin` per run. Each KD step it splits the step's batch across classes by
weakness (shrunk validation F1 and recall, training-history errors, the most-confused class
pairs) with a floor for every class, and adds a prompt section telling the teacher exactly how
many samples of which classes to write, as a ``counts: {...}`` line and in words. When a step
takes several teacher calls, each call is sent its own share of the step's counts.
"""

from __future__ import annotations

from pgkd_budget.allocation import Rotation, apportion, plan_shares
from pgkd_budget.answers import call_plan
from pgkd_budget.budget import StepBudget, deal, step_budget
from pgkd_budget.options import BudgetOptions
from pgkd_budget.plugin import BudgetPlugin
from pgkd_budget.section import SECTION, counts_line, render_section
from pgkd_budget.weakness import (
    ClassWeakness,
    ConfusedPair,
    class_prior,
    class_weakness,
    confused_pairs,
    shrink,
)

__version__ = "0.1.0"
__all__ = [
    "SECTION",
    "BudgetOptions",
    "BudgetPlugin",
    "ClassWeakness",
    "ConfusedPair",
    "Rotation",
    "StepBudget",
    "__version__",
    "apportion",
    "call_plan",
    "class_prior",
    "class_weakness",
    "confused_pairs",
    "counts_line",
    "deal",
    "plan_shares",
    "render_section",
    "shrink",
    "step_budget",
]
