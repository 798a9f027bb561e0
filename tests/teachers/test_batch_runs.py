"""Whole runs in batch mode against the loopback server: what they cost next to the same run
online."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgkd.config import config_from_mapping
from pgkd.progress import Progress
from pgkd.runner import run
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


def run_config(tickets: dict[str, Path], provider: str, url: str, **teacher: Any) -> Any:
    return config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {
                "model": f"{provider}:{kit.MODELS[provider]}",
                "base_url": url + "/v1" if provider == "openai" else url,
                "samples_per_call": 8,
                "options": {"price_in": 1.0, "price_out": 4.0},
                "batch_poll_seconds": 0.01,
                **teacher,
            },
            "student": {"max_length": 64},
            "kd": {"steps": 2, "patience": 2, "batch_size": 16},
        }
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_run_costs_at_most_55_percent_of_the_same_run_online(
    provider: str, tickets: dict[str, Path], tmp_path: Path
) -> None:
    quiet = Progress(live=False, quiet=True)
    summaries = {}
    # A fresh server per run, and one call at a time online: both runs get the same answers
    # for the same calls (the server numbers its answers), so they send the same requests.
    for batch in (False, True):
        with LoopbackServer(batch_polls=2) as server:
            config = run_config(tickets, provider, server.url, batch=batch, concurrency=1)
            out = tmp_path / ("batch" if batch else "online")
            summaries[batch] = run(config, out, progress=quiet, entry_points_enabled=False)
            jobs = server.batches.created()
    online, batch = summaries[False]["teacher"], summaries[True]["teacher"]
    assert summaries[True]["steps_run"] == summaries[False]["steps_run"] == 2
    assert online["calls"] == batch["calls"] == 4
    # One job per KD step, and the same work: the same requests.
    assert len(jobs) == 2
    assert batch["input_tokens"] == online["input_tokens"]
    assert batch["output_tokens"] == online["output_tokens"]
    assert batch["cost_usd"] <= 0.55 * online["cost_usd"]
    lines = (tmp_path / "batch/journal.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["step"] for e in events if e["event"] == "batch_job"] == [1, 2]


def test_batch_mode_with_a_provider_without_a_batch_api_is_refused_before_the_run_starts(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    from pgkd.errors import ConfigError

    config = config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {"model": f"pool:{tickets['pool']}", "batch": True},
        }
    )
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"\[teacher\] batch = true: the pool provider"):
        run(config, out, progress=Progress(live=False, quiet=True), entry_points_enabled=False)
    assert not out.exists()
