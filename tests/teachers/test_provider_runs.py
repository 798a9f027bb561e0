"""Whole `pgkd run`s with each hosted provider, through its real SDK, against a loopback server
that injects faults; then the planted keys are searched for in everything the run wrote."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pgkd.config import config_from_mapping
from pgkd.progress import Progress
from pgkd.runner import run
from tests.teachers import teacher_kit as kit
from tests.teachers.loopback import LoopbackServer


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    kit.credentials(monkeypatch)


@pytest.mark.parametrize("provider", kit.PROVIDERS)
def test_a_run_completes_through_each_provider_and_leaks_no_key(
    provider: str,
    tickets: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # The fault mix of the reliability issue: 20% 429s, 10% 500s, 10% malformed JSON, wrong
    # labels, calls that hang past the timeout and connections dropped mid-call.
    rates = {"429": 0.2, "500": 0.1, "malformed": 0.1, "wrong_label": 0.05}
    rates |= {"timeout": 0.05, "drop": 0.05}
    with LoopbackServer(latency=0.01, rates=rates, seed=3, hang=3.0) as server:
        base = server.url + "/v1" if provider == "openai" else server.url
        config = config_from_mapping(
            {
                "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
                "teacher": {
                    "model": f"{provider}:{kit.MODELS[provider]}",
                    "base_url": base,
                    "concurrency": 4,
                    "samples_per_call": 4,
                    "max_retries": 8,
                    "max_reasks": 4,
                    "timeout": 1,
                },
                "student": {"max_length": 64},
                "kd": {"steps": 2, "batch_size": 16},
            }
        )
        out = tmp_path / "run"
        summary = run(
            config, out, progress=Progress(live=False, quiet=True), entry_points_enabled=False
        )
        served = len(server.served)
    assert summary["steps_run"] == 2
    assert summary["samples"]["generated"] >= 32
    assert summary["teacher"]["calls"] == served
    assert summary["teacher"]["input_tokens"] > 0
    calls = [
        e
        for e in map(json.loads, (out / "journal.jsonl").read_text().splitlines())
        if e["event"] == "teacher_call"
    ]
    assert len(calls) == served
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    everything += caplog.text.encode()
    for secret in kit.SECRETS:
        assert secret.encode() not in everything
        assert secret[-9:].encode() not in everything
