"""Per-call plans (the ``prepare_call`` path) through the real ``openai`` SDK against the
loopback server: each call its own prompt and count, still concurrent; retries, re-asks and
replacements keep a call's plan; a plan of 0 ends the fill; journal and cache stay exact."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pgkd.fill.cache import ResponseCache
from pgkd.fill.pool import Generation, TeacherPool
from pgkd.store import JsonlLog, read_jsonl
from pgkd.types import CallPlan, Evaluation, Prompt, StepContext
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


def step_context(step: int = 1) -> StepContext:
    return StepContext(
        step=step,
        task=None,
        labels=kit.LABELS,
        history=[],
        train_predictions=[],
        validation=Evaluation(loss=1.0, metrics={}, per_class={}),
        settings=None,
        seed=0,
    )


@dataclass
class Planner:
    """Plans call ``i`` as the fill's prompt plus ``call i``, asking ``sizes[i]`` samples; 0
    once the sizes run out (or ``None``, keeping the fill's prompt, when ``keep`` is set)."""

    sizes: list[int]
    keep: bool = False
    asked: list[tuple[int, int, int]] = field(default_factory=list)

    def __call__(
        self,
        *,
        context: StepContext,
        prompt: Prompt,
        call_index: int,
        n_calls: int,
        n_samples: int,
    ) -> CallPlan | None:
        self.asked.append((call_index, n_calls, n_samples))
        if call_index >= len(self.sizes):
            return None if self.keep else CallPlan(prompt, 0)
        return CallPlan(
            Prompt(prompt.system, f"{prompt.user}\ncall {call_index}"), self.sizes[call_index]
        )


async def planned_fill(
    server: LoopbackServer, planner: Planner, n_samples: int, **options: Any
) -> tuple[Generation, TeacherPool]:
    pool = kit.make_pool(kit.make_teacher("openai", server), prepare_call=planner, **options)
    try:
        return await pool.fill(kit.PROMPT, n_samples, context=step_context()), pool
    finally:
        await pool.aclose()


def user_text(served: Any) -> str:
    content: str = served.body["messages"][1]["content"]
    return content


def test_each_call_carries_its_own_prompt_and_count_and_the_calls_overlap() -> None:
    planner = Planner([6, 8, 10])
    with LoopbackServer(latency=0.3) as server:
        gen, pool = kit.run(planned_fill(server, planner, 24, concurrency=3))
    assert gen.complete and (gen.parsed, gen.calls, gen.surplus) == (24, 3, 0)
    assert server.max_in_flight == 3  # all three calls on the wire at once
    assert [a[0] for a in planner.asked] == [0, 1, 2]
    assert {(n_calls, n) for _, n_calls, n in planner.asked} == {(3, 8)}
    by_call = {f"s1c{i}": sum(c.call_id == f"s1c{i}" for c in gen.candidates) for i in range(3)}
    assert by_call == {"s1c0": 6, "s1c1": 8, "s1c2": 10}
    asked_for = sorted((user_text(s).rsplit("call ", 1)[1], len(s.texts)) for s in server.served)
    assert asked_for == [("0", 6), ("1", 8), ("2", 10)]
    kit.assert_exact_accounting(pool.usage, server)
    kit.assert_no_loss_or_duplicate(gen, server)


def test_retries_reasks_and_a_replacement_keep_the_calls_plan() -> None:
    # Call 0: two 500s use up its one transport retry, so it gives up; its replacement (call
    # 1) gets a malformed answer and is re-asked. All four requests carry plan 0's prompt, and
    # the planner is not asked again: the replacement is plan 0 once more.
    planner = Planner([8, 8])
    script = ["500", "500", "malformed"]
    with LoopbackServer(script=script) as server:
        gen, _ = kit.run(
            planned_fill(server, planner, 8, concurrency=1, max_retries=1, max_reasks=1)
        )
    assert gen.parsed == 8 and gen.abandoned_calls == 1
    assert (gen.calls, gen.retries, gen.reasks) == (4, 1, 1)
    assert [a[0] for a in planner.asked] == [0]
    users = [user_text(s) for s in server.served]
    assert [u.split("\n")[1][:6] for u in users] == ["call 0"] * 4
    assert server.served[0].key == server.served[1].key  # a transport retry resends it as is
    assert "could not be used" in users[3] and "could not be used" not in users[2]
    assert {c.call_id for c in gen.candidates} == {"s1c1"}


def test_a_plan_of_zero_ends_the_fill_with_what_the_plan_asked() -> None:
    planner = Planner([5])
    with LoopbackServer() as server:
        gen, _ = kit.run(planned_fill(server, planner, 16, concurrency=2))
    assert (gen.parsed, gen.calls, gen.requested) == (5, 1, 16) and not gen.complete
    assert len(server.served) == 1 and [a[0] for a in planner.asked] == [0, 1]


def test_without_a_plan_or_a_context_calls_get_the_fills_prompt() -> None:
    keep = Planner([], keep=True)
    with LoopbackServer() as server:
        gen, _ = kit.run(planned_fill(server, keep, 16, concurrency=2))
    assert gen.parsed == 16 and all(user_text(s) == kit.PROMPT.user for s in server.served)
    unused = Planner([1, 1])

    async def no_context() -> Generation:
        pool = kit.make_pool(kit.make_teacher("openai", server), prepare_call=unused)
        try:
            return await pool.fill(kit.PROMPT, 8, step=1)
        finally:
            await pool.aclose()

    with LoopbackServer() as server:
        assert kit.run(no_context()).parsed == 8
    assert unused.asked == []


def test_call_prompts_are_journaled_and_a_replay_hits_the_cache(tmp_path: Path) -> None:
    journal = JsonlLog(tmp_path / "journal.jsonl")
    with ResponseCache(tmp_path / "cache.sqlite") as cache, LoopbackServer() as server:
        first, _ = kit.run(
            planned_fill(server, Planner([4, 4]), 8, concurrency=2, journal=journal, cache=cache)
        )
    journal.close()
    events = list(read_jsonl(tmp_path / "journal.jsonl"))
    prompts = {e["call_id"]: e["user"] for e in events if e["event"] == "call_prompt"}
    assert prompts == {f"s1c{i}": f"{kit.PROMPT.user}\ncall {i}" for i in range(2)}
    kinds = [(e["event"], e["call_id"]) for e in events]
    for call in prompts:  # a call's prompt is on disk before its reply
        assert kinds.index(("call_prompt", call)) < kinds.index(("teacher_call", call))
    with ResponseCache(tmp_path / "cache.sqlite") as cache, LoopbackServer() as replay:
        second, _ = kit.run(planned_fill(replay, Planner([4, 4]), 8, cache=cache))
    assert replay.served == [] and second.cached_calls == 2
    assert [c.record for c in second.candidates] == [c.record for c in first.candidates]
