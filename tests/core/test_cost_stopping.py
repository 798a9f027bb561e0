"""Cost-aware stopping: each step's gain per 1,000 samples, per dollar and per call; the rule
that stops a run when the gain per unit of spend over the last k steps falls below a
threshold; the report's gain-against-spend plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pgkd.builtin.cost_stopping import NAME, step_gain, window_rate
from pgkd.config import config_from_mapping
from pgkd.errors import ConfigError
from pgkd.progress import Progress
from pgkd.report.page import render_report
from pgkd.report.rundata import load_run
from pgkd.runner import run


def test_a_steps_gain_is_what_it_took_off_the_best_loss_per_unit_of_spend() -> None:
    gain = step_gain([1.0, 0.8], generated=32, calls=4, cost_usd=0.01)
    assert gain["val_loss_gain"] == pytest.approx(0.2)
    assert gain["per_1k_samples"] == pytest.approx(6.25)
    assert gain["per_usd"] == pytest.approx(20.0)
    assert gain["per_call"] == pytest.approx(0.05)
    # Worse than the best so far: no gain. A free teacher has no gain per dollar.
    assert step_gain([1.0, 0.8, 0.9], 32, 4, 0.0)["val_loss_gain"] == 0.0
    assert step_gain([1.0, 0.7], 32, 4, 0.0)["per_usd"] is None
    assert step_gain([1.0, 0.7], 0, 0, 0.0)["per_call"] is None


def test_the_window_rate_sums_gain_and_spend_over_the_last_k_steps() -> None:
    steps = [
        {"val_loss_gain": 0.3, "cost_usd": 0.1, "calls": 4, "generated": 32},
        {"val_loss_gain": 0.0, "cost_usd": 0.1, "calls": 4, "generated": 32},
        {"val_loss_gain": 0.1, "cost_usd": 0.3, "calls": 4, "generated": 32},
    ]
    assert window_rate(steps, 2, "usd") == pytest.approx(0.1 / 0.4)
    assert window_rate(steps, 3, "call") == pytest.approx(0.4 / 12)
    assert window_rate(steps, 3, "1k_samples") == pytest.approx(0.4 / 0.096)
    assert window_rate(steps, 4, "usd") is None
    assert window_rate([{**s, "cost_usd": 0.0} for s in steps], 2, "usd") is None


def tickets_run(tickets: dict[str, Path], out: Path, options: dict[str, Any]) -> dict[str, Any]:
    config = config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {"model": f"pool:{tickets['pool']}", "concurrency": 2},
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": 4, "patience": 4, "batch_size": 8},
            "plugins": {"options": {NAME: options}},
        }
    )
    summary: dict[str, Any] = run(
        config, out, progress=Progress(live=False, quiet=True), entry_points_enabled=False
    )
    return summary


def metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_every_step_records_its_gain_and_the_rule_stops_a_run_that_buys_too_little(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    free = tickets_run(tickets, tmp_path / "free", {})
    lines = metrics(tmp_path / "free")
    assert free["steps_run"] == 4 and "gain" not in lines[0]
    losses = [line["val"]["loss"] for line in lines]
    for i, line in enumerate(lines[1:], start=1):
        gain = line["gain"]
        assert gain["val_loss_gain"] == pytest.approx(max(0.0, min(losses[:i]) - losses[i]))
        assert gain["generated"] == 8 and gain["calls"] == line["generation"]["calls"]
        assert gain["cost_usd"] == 0.0 and gain["per_usd"] is None
    # Asking for more gain per call than any step can bring stops after the first window.
    stopped = tickets_run(
        tickets, tmp_path / "stopped", {"threshold": 10.0, "window": 2, "per": "call"}
    )
    assert stopped["steps_run"] == 2 and stopped["stopped_early"]
    assert "gain per teacher call over the last 2 steps" in stopped["stop_reason"]
    # The same rule per dollar never fires on a free teacher.
    assert (
        tickets_run(tickets, tmp_path / "usd", {"threshold": 10.0, "window": 2})["steps_run"] == 4
    )
    html = render_report(load_run(tmp_path / "stopped"))
    assert "Validation-loss gain against spend" in html and "teacher calls" in html


def test_a_bad_option_is_named() -> None:
    from types import SimpleNamespace

    from pgkd.builtin.cost_stopping import StopOptions
    from pgkd.config import PluginsConfig

    def options(table: dict[str, Any]) -> StopOptions:
        return StopOptions.from_settings(
            SimpleNamespace(plugins=PluginsConfig(options={NAME: table}))
        )

    assert options({}).threshold is None
    with pytest.raises(ConfigError, match=r"per = 'dollar' must be one of usd, call, 1k_samples"):
        options({"per": "dollar"})
    with pytest.raises(ConfigError, match="window = 0 must be a whole number >= 1"):
        options({"threshold": 1, "window": 0})
