"""Sending each teacher call of a step its own share of the budget.

pgkd's teacher pool sends one prompt to every call of a step. When a step needs several calls,
the ``generate`` hook of :class:`~pgkd_budget.plugin.BudgetPlugin` instead fills the batch
answer by answer: one ``pool.fill`` per answer, each with the prompt whose budget section names
that answer's counts, one after another (a pool fills one batch at a time). Retries, re-asks,
the cache, accounting and the journal stay the pool's; the fills' results are merged into the
one :class:`Generation` the loop expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from pgkd.errors import BudgetExceeded
from pgkd.teachers.pool import Generation
from pgkd.types import Prompt, StepContext

__all__ = ["answer_prompts", "fill_answers", "merge_generations"]


def answer_prompts(prompt: Prompt, first: str, sections: Sequence[str]) -> list[Prompt] | None:
    """One prompt per answer: ``prompt`` with its section ``first`` (answer 0's) replaced by
    each answer's section; None when ``first`` is not in the prompt exactly once (another
    prompt plugin left it out), so the caller can leave the step to pgkd's own filling."""
    if prompt.user.count(first) != 1:
        return None
    return [replace(prompt, user=prompt.user.replace(first, section)) for section in sections]


def merge_generations(parts: Sequence[Generation]) -> Generation:
    """The fills' results as one: parsed candidates of every fill (in fill order), then the
    unparsable ones; counts and costs summed; ``budget_exhausted`` if any fill ran out."""
    parsed = [c for part in parts for c in part.candidates if c.sample is not None]
    broken = [c for part in parts for c in part.candidates if c.sample is None]
    totals: dict[str, Any] = {}
    for field in fields(Generation):
        if field.name == "candidates":
            continue
        values = [getattr(part, field.name) for part in parts]
        if all(isinstance(v, bool) for v in values):
            totals[field.name] = any(values)
        elif all(isinstance(v, int | float) for v in values):
            totals[field.name] = sum(values)
    return Generation(candidates=[*parsed, *broken], **totals)


async def fill_answers(
    pool: Any, context: StepContext, prompts: Sequence[Prompt], sizes: Sequence[int]
) -> Generation:
    """Fill each answer in turn. The budget running out after some samples arrived ends the
    step with what it has (``budget_exhausted``), as pgkd's own fill does."""
    parts: list[Generation] = []
    for prompt, size in zip(prompts, sizes, strict=True):
        if size <= 0:
            continue
        if context.guard is not None:
            context.guard.check_prompt(prompt.text)
        try:
            part = await pool.fill(prompt, size, context=context, step=context.step)
        except BudgetExceeded:
            if not any(p.parsed for p in parts):
                raise
            parts[-1] = replace(parts[-1], budget_exhausted=True)
            break
        parts.append(part)
        if part.budget_exhausted:
            break
    return merge_generations(parts)
