"""A run with the SIMULATION teacher, stopped in the middle of a step and resumed, hands out
exactly the samples an uninterrupted run does: with random rows, and with the imitating writer
and label noise (whose answers depend on the prompt and carry wrong labels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgkd.runner import resume, run
from tests.reliability.resume_kit import QUIET, Crash, CrashInStep, pool_config


def handed_out(run_dir: Path) -> dict[int, list[str]]:
    """Each step's samples (label: text), the last batch of a step journaled twice."""
    steps: dict[int, list[str]] = {}
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "sample":
            if event["index"] == 0:
                steps[event["step"]] = []
            steps[event["step"]].append(f"{event['record']['label']}: {event['record']['text']}")
    return steps


@pytest.mark.parametrize(
    "options",
    [{}, {"writer": "imitate", "label_noise": 0.3, "nearest": 3}],
    ids=["random", "imitate-noisy"],
)
def test_a_resumed_run_hands_out_what_an_uninterrupted_one_does(
    tickets: dict[str, Path], tmp_path: Path, options: dict[str, Any]
) -> None:
    config = pool_config(tickets, 16)
    config.teacher.options.update(options)
    whole = tmp_path / "whole"
    run(config, whole, progress=QUIET, entry_points_enabled=False)
    broken = tmp_path / "broken"
    with pytest.raises(Crash):
        run(
            config,
            broken,
            progress=QUIET,
            extra_plugins=[CrashInStep(3)],
            entry_points_enabled=False,
        )
    assert sorted(handed_out(broken)) == [1, 2]
    summary = resume(broken, progress=QUIET, entry_points_enabled=False)
    assert summary["steps_run"] == 4
    expected = handed_out(whole)
    assert sorted(expected) == [1, 2, 3, 4]
    assert handed_out(broken) == expected
    # Step 3 was replayed from the cache; step 4 was drawn after the resume.
    calls = [json.loads(line) for line in (broken / "journal.jsonl").read_text().splitlines()]
    step3 = [e for e in calls if e.get("event") == "teacher_call" and e["step"] == 3]
    assert [e["cached"] for e in step3] == [False, False, True, True]
