"""The ``prepare_call`` hook: fired by the teacher pool for each call of a step, through the
run's preparer (a bare Prompt becomes a plan; a changed prompt is checked for held-out text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgkd.build import call_preparer
from pgkd.config import config_from_mapping
from pgkd.errors import LeakageError, PgkdError
from pgkd.guard import HeldOutGuard
from pgkd.hookspecs import hookimpl
from pgkd.plugins import build_plugin_manager
from pgkd.progress import Progress
from pgkd.runner import run
from pgkd.teachers.base import TeacherReply, TeacherRequest, TeacherSettings
from pgkd.teachers.simulation import SimulationTeacher
from pgkd.types import CallPlan, Evaluation, Prompt, StepContext

HELD_OUT = "my parcel arrived crushed and the screen is cracked in three places"
PROMPT = Prompt("sys", "write tickets")


class TagCalls:
    """Sends call ``i`` the step's prompt plus ``call i``; ``answer`` overrides the reply."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.asked: list[tuple[int, int, int, int]] = []

    @hookimpl
    def prepare_call(
        self,
        context: StepContext,
        prompt: Prompt,
        call_index: int,
        n_calls: int,
        n_samples: int,
    ) -> Any:
        self.asked.append((context.step, call_index, n_calls, n_samples))
        if self.answer is not None:
            return self.answer
        return Prompt(prompt.system, f"{prompt.user}\ncall {call_index}")


class RecordingTeachers:
    """The simulation teacher, keeping every request."""

    def __init__(self) -> None:
        self.requests: list[TeacherRequest] = []

    @hookimpl
    def register_teachers(self, register: Any) -> None:
        requests = self.requests

        class Recording(SimulationTeacher):
            async def complete(self, request: TeacherRequest) -> TeacherReply:
                requests.append(request)
                return await super().complete(request)

        def build(settings: TeacherSettings) -> SimulationTeacher:
            return Recording(settings)

        register("pool", build)


def context() -> StepContext:
    validation = Evaluation(loss=1.0, metrics={}, per_class={})
    return StepContext(1, None, ("a",), [], [], validation, None, 0)


def prepare(plugin: object | None) -> CallPlan | None:
    pm = build_plugin_manager(entry_points_enabled=False, extra=[plugin] if plugin else [])
    preparer = call_preparer(pm, HeldOutGuard([HELD_OUT]))
    return preparer(context=context(), prompt=PROMPT, call_index=2, n_calls=4, n_samples=8)


def test_no_plugin_keeps_the_step_prompt_and_a_prompt_becomes_a_plan() -> None:
    assert prepare(None) is None
    assert prepare(TagCalls()) == CallPlan(Prompt("sys", "write tickets\ncall 2"), 8)
    plan = CallPlan(Prompt("sys", "five, please"), 5)
    assert prepare(TagCalls(plan)) == plan


def test_a_call_prompt_with_held_out_text_is_never_sent() -> None:
    with pytest.raises(LeakageError, match="validation/test text"):
        prepare(TagCalls(Prompt("sys", f"like this one: {HELD_OUT}")))


def test_a_wrong_answer_is_a_clear_error() -> None:
    with pytest.raises(PgkdError, match="returned str, not Prompt or CallPlan"):
        prepare(TagCalls("call 2"))


def test_a_run_sends_each_call_its_own_prompt(tickets: dict[str, Path], tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {"model": f"pool:{tickets['pool']}", "concurrency": 2},
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": 1, "batch_size": 16},
        }
    )
    config.teacher.samples_per_call = 8
    tagger, teachers = TagCalls(), RecordingTeachers()
    out = tmp_path / "run"
    run(
        config,
        out,
        progress=Progress(live=False, quiet=True),
        extra_plugins=[teachers, tagger],
        entry_points_enabled=False,
    )
    assert tagger.asked == [(1, 0, 2, 8), (1, 1, 2, 8)]
    assert sorted(r.user.rsplit("\n", 1)[1] for r in teachers.requests) == ["call 0", "call 1"]
    events = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    sent = {
        e["call_id"]: e["user"].rsplit("\n", 1)[1] for e in events if e["event"] == "call_prompt"
    }
    assert sent == {"s1c0": "call 0", "s1c1": "call 1"}
