"""The installed plugin in real pgkd runs: discovered by entry point, its section in every
prompt, and the SIMULATION teacher writing exactly the class mix it asks for."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import budget_kit as kit
import pytest
from pgkd import (
    Config,
    StepContext,
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    config_from_mapping,
    hookimpl,
)
from pgkd.testing import (
    SimulationTeacher,
    build_plugin_manager,
    describe,
    parse_counts,
    quiet_progress,
    resume,
    run,
)

from pgkd_budget import BudgetOptions, BudgetPlugin


class RecordingPool:
    """Registers the ``pool`` SIMULATION teacher, keeping every request and answer and the step
    each request was sent in (``step_of[id(request)]``); each call takes ``latency`` seconds,
    and ``max_in_flight`` is the most calls it ever had at once."""

    def __init__(self, latency: float = 0.0) -> None:
        self.calls: list[tuple[TeacherRequest, list[dict[str, str]]]] = []
        self.step_of: dict[int, int] = {}
        self.step = 0
        self.latency = latency
        self.in_flight = self.max_in_flight = 0

    @hookimpl
    def on_eval(self, context: StepContext) -> None:
        self.step = context.step

    @hookimpl
    def register_teachers(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        calls, recorder = self.calls, self

        class Recording(SimulationTeacher):
            async def complete(self, request: TeacherRequest) -> TeacherReply:
                recorder.in_flight += 1
                recorder.max_in_flight = max(recorder.max_in_flight, recorder.in_flight)
                try:
                    await asyncio.sleep(recorder.latency)
                    reply = await super().complete(request)
                finally:
                    recorder.in_flight -= 1
                calls.append((request, json.loads(reply.text)))
                recorder.step_of[id(request)] = recorder.step
                return reply

        def build(settings: TeacherSettings) -> SimulationTeacher:
            return Recording(settings)

        register("pool", build)


def make_config(data: dict[str, Path], **teacher: Any) -> Config:
    return config_from_mapping(
        {
            "data": {"train": str(data["train"]), "test": str(data["test"])},
            "teacher": {
                "model": f"pool:{data['pool']}",
                "concurrency": 2,
                "samples_per_call": 8,
                "options": {"strategy": "request"},
                **teacher,
            },
            "student": {"kind": "frozen", "max_length": 32},
            "kd": {"steps": 2, "patience": 5, "batch_size": 16},
        }
    )


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    return kit.write_data(tmp_path)


def journal_labels(run_dir: Path) -> dict[int, Counter[str]]:
    by_step: dict[int, Counter[str]] = {}
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "sample":
            by_step.setdefault(event["step"], Counter())[event["record"]["label"]] += 1
    return by_step


def test_the_entry_point_loads_only_when_allow_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGKD_PLUGINS", "budget")
    pm = build_plugin_manager(entry_points_enabled=True)
    plugin = pm.get_plugin("budget")
    assert isinstance(plugin, BudgetPlugin)
    assert ("budget", ["on_eval", "prepare_call"]) in describe(pm)
    monkeypatch.setenv("PGKD_PLUGINS", "")
    assert build_plugin_manager(entry_points_enabled=True).get_plugin("budget") is None


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {label: n for label, n in counts.items() if n > 0}


def test_a_run_asks_for_the_budget_and_the_teacher_follows_it(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGKD_PLUGINS", "budget")
    recorder = RecordingPool()
    out = tmp_path / "run"
    summary = run(
        make_config(data),
        out,
        progress=quiet_progress(),
        extra_plugins=[recorder],
        entry_points_enabled=True,
    )
    assert summary["steps_run"] == 2
    assert summary["teacher"]["calls"] == 4  # 2 steps x 16 samples / 8 per call
    assert len(recorder.calls) == 4
    per_step: dict[int, Counter[str]] = {}
    for request, answer in recorder.calls:
        assert "Sample budget:" in request.user
        assert "validation set" in request.user  # pgkd's own prompt is still there
        counts = parse_counts(request.user)
        assert counts is not None and sum(counts.values()) == 8
        assert Counter(record["label"] for record in answer) == Counter(counts)
        per_step.setdefault(recorder.step_of[id(request)], Counter()).update(counts)
    assert sorted(per_step) == [1, 2]
    assert all(sum(mix.values()) == 16 for mix in per_step.values())
    assert journal_labels(out) == per_step


def test_each_call_gets_its_own_share_of_the_steps_plan(
    data: dict[str, Path], tmp_path: Path
) -> None:
    plugin, recorder = BudgetPlugin(), RecordingPool()
    run(
        make_config(data),
        tmp_path / "run",
        progress=quiet_progress(),
        extra_plugins=[recorder, plugin],
        entry_points_enabled=False,
    )
    for step, budget in plugin.budgets.items():
        asked = [
            parse_counts(request.user)
            for request, _ in recorder.calls
            if recorder.step_of[id(request)] == step
        ]
        assert asked == [nonzero(answer) for answer in budget.answers]
    assert journal_labels(tmp_path / "run") == {
        step: Counter(nonzero(b.per_step)) for step, b in plugin.budgets.items()
    }


def test_a_steps_calls_run_concurrently_each_with_its_own_counts(
    data: dict[str, Path], tmp_path: Path
) -> None:
    # Each call takes 0.3 s: the step's two calls are on the wire together.
    plugin, recorder = BudgetPlugin(), RecordingPool(latency=0.3)
    run(
        make_config(data),
        tmp_path / "run",
        progress=quiet_progress(),
        extra_plugins=[recorder, plugin],
        entry_points_enabled=False,
    )
    assert recorder.max_in_flight == 2 and len(recorder.calls) == 4
    for step, budget in plugin.budgets.items():
        assert budget.calls == 2
        calls = [(r, a) for r, a in recorder.calls if recorder.step_of[id(r)] == step]
        for request, answer in calls:
            counts = parse_counts(request.user)
            assert counts is not None and request.n_samples == sum(counts.values())
            assert Counter(record["label"] for record in answer) == Counter(counts)
        asked = sorted(json.dumps(parse_counts(r.user), sort_keys=True) for r, _ in calls)
        planned = sorted(json.dumps(nonzero(a), sort_keys=True) for a in budget.answers)
        assert asked == planned and asked[0] != asked[1]
    lines = (tmp_path / "run" / "journal.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    # With pgkd's per-call views (on by default) every call's prompt differs from the step's.
    journaled = sorted(e["call_id"] for e in events if e["event"] == "call_prompt")
    assert journaled == ["s1c0", "s1c1", "s2c0", "s2c1"]


def test_without_split_calls_every_call_gets_the_first_answer(
    data: dict[str, Path], tmp_path: Path
) -> None:
    plugin = BudgetPlugin(BudgetOptions(split_calls=False))
    recorder = RecordingPool()
    run(
        make_config(data),
        tmp_path / "run",
        progress=quiet_progress(),
        extra_plugins=[recorder, plugin],
        entry_points_enabled=False,
    )
    assert journal_labels(tmp_path / "run") == {
        step: Counter({c: 2 * n for c, n in nonzero(b.answers[0]).items()})
        for step, b in plugin.budgets.items()
    }


def test_one_call_per_step_gets_the_steps_plan_itself(
    data: dict[str, Path], tmp_path: Path
) -> None:
    plugin, recorder = BudgetPlugin(), RecordingPool()
    run(
        make_config(data, samples_per_call=16),
        tmp_path / "run",
        progress=quiet_progress(),
        extra_plugins=[recorder, plugin],
        entry_points_enabled=False,
    )
    assert len(recorder.calls) == 2
    for request, answer in recorder.calls:
        budget = plugin.budgets[recorder.step_of[id(request)]]
        assert budget.calls == 1
        assert parse_counts(request.user) == nonzero(budget.per_step)
        assert Counter(record["label"] for record in answer) == Counter(nonzero(budget.per_step))
        assert "answers, each with its own counts" not in request.user


class Crash(Exception):
    pass


class CrashInStep:
    """Stops the run in step ``step``, after its budget was made and the teacher answered."""

    def __init__(self, step: int) -> None:
        self.step = step

    @hookimpl
    def validate_samples(self, context: Any, candidates: Any) -> None:
        if context.step == self.step:
            raise Crash(f"stopped in step {self.step}")


def test_a_resumed_run_carries_the_rounding_on_as_an_uninterrupted_one(
    data: dict[str, Path], tmp_path: Path
) -> None:
    raw = make_config(data).to_toml_dict()
    config = config_from_mapping({**raw, "kd": {**raw["kd"], "steps": 4}})
    quiet = quiet_progress()
    whole = BudgetPlugin()
    run(
        config,
        tmp_path / "whole",
        progress=quiet,
        extra_plugins=[whole],
        entry_points_enabled=False,
    )
    broken = tmp_path / "broken"
    with pytest.raises(Crash):
        run(
            config,
            broken,
            progress=quiet,
            extra_plugins=[BudgetPlugin(), CrashInStep(3)],
            entry_points_enabled=False,
        )
    again = BudgetPlugin()  # as in a new process: the carry comes from the run directory
    resume(broken, progress=quiet, extra_plugins=[again], entry_points_enabled=False)
    assert sorted(again.budgets) == [3, 4]
    for step in (3, 4):
        assert again.budgets[step].per_step == whole.budgets[step].per_step
        assert again.budgets[step].answers == whole.budgets[step].answers
    assert journal_labels(broken) == journal_labels(tmp_path / "whole")
