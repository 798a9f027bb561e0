"""The default ``generate``: fill the batch through the configured teacher's worker pool."""

from __future__ import annotations

from collections.abc import Awaitable

from pgkd.fill.pool import Generation, TeacherPool
from pgkd.hookspecs import hookimpl
from pgkd.types import Prompt, StepContext


@hookimpl(trylast=True)
def generate(
    context: StepContext, prompt: Prompt, pool: TeacherPool, n_samples: int
) -> Awaitable[Generation]:
    return pool.fill(prompt, n_samples, context=context, step=context.step)
