"""The report's "what did the spend buy" section: the cumulative validation-loss gain (model_0's
loss minus the best loss so far) against the cumulative teacher spend, in dollars, or in teacher
calls for a free teacher, with each step's gain per 1,000 generated samples, per dollar and per
call (the ``gain`` of its metrics line)."""

from __future__ import annotations

import math
from typing import Any

from pgkd.report.markup import cell, money, row, section, table
from pgkd.report.rundata import RunData
from pgkd.report.svg import PALETTE, Series, line_chart

__all__ = ["gain_points", "gain_section"]

ANCHOR = "gain"
TITLE = "Validation-loss gain against spend"


def _number(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(float(value)) else 0.0


def gain_points(run: RunData) -> tuple[list[tuple[float, float]], str]:
    """(cumulative spend, cumulative gain) from model_0 on, and the spend's unit: ``USD`` when
    the run's teacher cost anything, else ``teacher calls``."""
    steps = run.step_numbers
    blocks = [run.steps[s].get("generation") or {} for s in steps]
    priced = any(_number(b.get("cost_usd")) > 0 for b in blocks)
    key, unit = ("cost_usd", "USD") if priced else ("calls", "teacher calls")
    points: list[tuple[float, float]] = []
    spent, first, best = 0.0, math.nan, math.inf
    for step, block in zip(steps, blocks, strict=True):
        loss = (run.steps[step].get("val") or {}).get("loss")
        if not isinstance(loss, int | float) or not math.isfinite(float(loss)):
            continue
        spent += _number(block.get(key))
        first = float(loss) if math.isnan(first) else first
        best = min(best, float(loss))
        points.append((spent, first - best))
    return points, unit


def gain_section(run: RunData) -> str:
    points, unit = gain_points(run)
    best = run.best_step
    steps = run.step_numbers
    mark = next((x for s, (x, _) in zip(steps, points, strict=False) if s == best), None)
    chart = line_chart(
        [Series("gain in validation loss since model_0", points, PALETTE[2])],
        title="Cumulative validation-loss gain against cumulative spend",
        x_label=f"cumulative teacher spend ({unit})",
        mark_x=mark,
        mark_label=f"best: step {best}",
    )
    rows = []
    for step in steps[1:]:
        gain = run.steps[step].get("gain") or {}
        rows.append(
            row(
                [
                    cell(step),
                    cell(gain.get("val_loss_gain"), numeric=True, digits=4),
                    cell(gain.get("generated"), numeric=True),
                    cell(gain.get("calls"), numeric=True),
                    cell(money(gain.get("cost_usd")), css="num"),
                    cell(gain.get("per_1k_samples"), numeric=True, digits=4),
                    cell(gain.get("per_usd"), numeric=True, digits=4),
                    cell(gain.get("per_call"), numeric=True, digits=4),
                ]
            )
        )
    headers = [
        "step", "gain", "samples", "calls", "cost",
        "gain / 1k samples", "gain / USD", "gain / call",
    ]  # fmt: skip
    body = f'<div class="charts"><figure>{chart}</figure></div>'
    if rows:
        body += table(headers, rows, numeric=[False, *([True] * 7)])
    note = (
        "A step's gain is how much it lowered the best validation loss so far (0 when its "
        "student was no better); samples are every sample the teacher wrote, accepted or not. "
        "A free teacher's spend is counted in calls. [plugins.options.cost_stopping] threshold "
        "stops a run when the gain per unit of spend over the last steps falls below it."
    )
    verifying = sum(
        _number((run.steps[s].get("generation") or {}).get("verification_calls")) for s in steps
    )
    if verifying:
        note += (
            f" Calls and cost include the {verifying:.0f} calls in which the teacher verified "
            "its own samples (teacher_verification)."
        )
    return section(ANCHOR, TITLE, body, note)
