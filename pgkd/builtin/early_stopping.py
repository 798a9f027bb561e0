"""The paper's stopping rule: keep the student with the lowest validation loss, stop after
``[kd] patience`` steps without improvement.

Stateless on purpose: it reads the loop's ``val_losses`` (step 0 = model_0), so a resumed run
decides exactly as an uninterrupted one.
"""

from __future__ import annotations

from pgkd.hookspecs import hookimpl
from pgkd.types import StepContext, StepRecord, StepVerdict


class EarlyStopping:
    @hookimpl(trylast=True)
    def on_step_end(self, context: StepContext, record: StepRecord) -> StepVerdict:
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
