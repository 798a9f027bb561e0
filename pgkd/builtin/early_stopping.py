"""The run's stopping rules: the paper's (keep the student with the lowest validation loss,
stop after ``[kd] patience`` steps without improvement) and the teacher budget (stop after the
step whose fill ran out of ``[teacher] max_cost_usd`` / ``max_calls``).

Stateless on purpose: it reads the loop's ``val_losses`` (step 0 = model_0) and the step's
:class:`~pgkd.types.StepRecord`, so a resumed run decides exactly as an uninterrupted one.
Disabling it (``[plugins] disable = ["early_stopping"]``) runs every step and marks each new
student best unless another plugin decides. An exhausted budget still ends the run: the
teacher pool refuses the next step's fill (:class:`~pgkd.errors.BudgetExceeded`), so that step
builds its prompt but calls no teacher and trains nothing.
"""

from __future__ import annotations

from pgkd.hookspecs import hookimpl
from pgkd.types import StepContext, StepRecord, StepVerdict

BUDGET_REASON = "teacher budget exhausted (max_cost_usd / max_calls)"


class EarlyStopping:
    @hookimpl(trylast=True)
    def on_step_end(self, context: StepContext, record: StepRecord) -> StepVerdict:
        verdict = self.patience_verdict(context)
        if record.teacher_budget_exhausted:
            return StepVerdict(is_best=verdict.is_best, stop=True, reason=BUDGET_REASON)
        return verdict

    @staticmethod
    def patience_verdict(context: StepContext) -> StepVerdict:
        losses = context.val_losses
        patience = context.settings.kd.patience
        best = min(range(len(losses)), key=lambda i: (losses[i], i))
        last = len(losses) - 1
        waited = last - best
        if waited >= patience:
            return StepVerdict(
                is_best=False,
                stop=True,
                reason=f"no validation-loss improvement for {waited} steps (patience {patience})",
            )
        return StepVerdict(is_best=best == last)
