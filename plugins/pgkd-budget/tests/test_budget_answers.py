"""Dealing a step's counts over its teacher answers, and filling the batch answer by answer."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from pgkd.errors import BudgetExceeded
from pgkd.teachers.pool import Generation
from pgkd.types import Candidate, Prompt, Sample, StepContext

from pgkd_budget import deal, merge_generations
from pgkd_budget.answers import answer_prompts, fill_answers


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


def test_answer_prompts_replace_only_the_budget_section() -> None:
    prompt = Prompt(system="s", user="intro\n\nSECTION 0\n\nwrite 8")
    prompts = answer_prompts(prompt, "SECTION 0", ["SECTION 0", "SECTION 1"])
    assert prompts is not None
    assert [p.user for p in prompts] == [
        "intro\n\nSECTION 0\n\nwrite 8",
        "intro\n\nSECTION 1\n\nwrite 8",
    ]
    assert answer_prompts(prompt, "missing", ["x"]) is None


def generation(labels: list[str], *, broken: int = 0, **fields: Any) -> Generation:
    parsed = [Candidate(record={"label": c}, sample=Sample(text=c, target=c)) for c in labels]
    bad = [Candidate(record={}, sample=None, parse_error="bad") for _ in range(broken)]
    return Generation(
        candidates=[*parsed, *bad],
        requested=len(labels),
        parsed=len(labels),
        unparsable=broken,
        calls=1,
        **fields,
    )


def test_merge_sums_the_accounting_and_puts_parsed_candidates_first() -> None:
    merged = merge_generations(
        [
            generation(["a", "a"], broken=1, cost_usd=0.5, seconds=1.0),
            generation(["b"], cost_usd=0.25, budget_exhausted=True),
        ]
    )
    assert [c.record.get("label") for c in merged.candidates] == ["a", "a", "b", None]
    assert (merged.requested, merged.parsed, merged.unparsable, merged.calls) == (3, 3, 1, 2)
    assert merged.cost_usd == 0.75 and merged.seconds == 1.0 and merged.budget_exhausted


class FakePool:
    """Answers each fill with the labels its prompt names; raises once ``limit`` fills ran."""

    def __init__(self, limit: int = 99) -> None:
        self.prompts: list[str] = []
        self.limit = limit

    async def fill(self, prompt: Prompt, n: int, *, context: Any, step: int) -> Generation:
        if len(self.prompts) >= self.limit:
            raise BudgetExceeded("max_calls reached")
        self.prompts.append(prompt.user)
        return generation([prompt.user] * n)


def context() -> StepContext:
    return StepContext(
        step=1,
        task=None,
        labels=(),
        history=[],
        train_predictions=[],
        validation=None,  # type: ignore[arg-type]
        settings=None,
        seed=0,
    )


def test_fill_answers_asks_each_answer_in_turn() -> None:
    pool = FakePool()
    prompts = [Prompt("s", "one"), Prompt("s", "two"), Prompt("s", "three")]
    merged = asyncio.run(fill_answers(pool, context(), prompts, [2, 0, 1]))
    assert pool.prompts == ["one", "three"]
    assert [c.record["label"] for c in merged.candidates] == ["one", "one", "three"]


def test_a_budget_that_runs_out_mid_step_keeps_what_arrived() -> None:
    prompts = [Prompt("s", "one"), Prompt("s", "two")]
    merged = asyncio.run(fill_answers(FakePool(limit=1), context(), prompts, [2, 2]))
    assert merged.parsed == 2 and merged.budget_exhausted
    with pytest.raises(BudgetExceeded):
        asyncio.run(fill_answers(FakePool(limit=0), context(), prompts, [2, 2]))
