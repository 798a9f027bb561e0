"""A plugin's ``run_state`` survives a run stopped in the middle of a step and resumed: every
step sees what it would have seen in an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgkd.config import config_from_mapping
from pgkd.errors import PluginError
from pgkd.hookspecs import hookimpl
from pgkd.runner import resume, run
from pgkd.types import StepContext, StepRecord
from tests.reliability.resume_kit import QUIET, Crash, pool_config


class StepCounter:
    """Counts steps and accepted samples in ``run_state``; ``seen`` holds what each step's
    ``on_eval`` found there. Raises in step ``crash_in`` after it changed ``run_state``."""

    def __init__(self, crash_in: int = 0) -> None:
        self.crash_in = crash_in
        self.seen: dict[int, Any] = {}

    @hookimpl
    def on_eval(self, context: StepContext) -> None:
        self.seen[context.step] = json.loads(json.dumps(context.run_state))
        mine = context.run_state.setdefault("counter", {"steps": 0, "accepted": []})
        mine["steps"] += 1

    @hookimpl
    def validate_samples(self, context: StepContext, candidates: Any) -> None:
        if context.step == self.crash_in:
            raise Crash(f"stopped in step {self.crash_in}")

    @hookimpl
    def on_step_end(self, context: StepContext, record: StepRecord) -> None:
        context.run_state["counter"]["accepted"].append(record.accepted)


def test_a_resumed_run_sees_the_run_state_of_an_uninterrupted_one(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    config = pool_config(tickets, 8)
    whole = StepCounter()
    run(
        config,
        tmp_path / "whole",
        progress=QUIET,
        extra_plugins=[whole],
        entry_points_enabled=False,
    )
    assert whole.seen[1] == {}
    assert whole.seen[4]["counter"]["steps"] == 3
    assert len(whole.seen[4]["counter"]["accepted"]) == 3

    broken = tmp_path / "broken"
    first = StepCounter(crash_in=3)
    with pytest.raises(Crash):
        run(config, broken, progress=QUIET, extra_plugins=[first], entry_points_enabled=False)
    # As if killed between step 3's run_state event and its metrics line: not restored.
    with (broken / "journal.jsonl").open("a") as journal:
        stale = {"event": "run_state", "step": 3, "state": {"counter": "stale"}}
        journal.write(json.dumps(stale) + "\n")
    # A fresh plugin object, as in a new process: all it knows comes from the run directory.
    again = StepCounter()
    resume(broken, progress=QUIET, extra_plugins=[again], entry_points_enabled=False)
    assert sorted(again.seen) == [3, 4]
    # Step 3's first attempt counted itself before it crashed; that count is gone.
    assert again.seen == {step: whole.seen[step] for step in (3, 4)}


class Unserialisable:
    @hookimpl
    def on_eval(self, context: StepContext) -> None:
        context.run_state["bad"] = {"labels": {"a", "b"}}


def test_state_that_is_not_json_fails_naming_the_key(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    config = config_from_mapping({**pool_config(tickets, 8).to_toml_dict(), "kd": {"steps": 1}})
    with pytest.raises(PluginError, match=r"run_state\['bad'\]: not JSON"):
        run(
            config,
            tmp_path / "run",
            progress=QUIET,
            extra_plugins=[Unserialisable()],
            entry_points_enabled=False,
        )
