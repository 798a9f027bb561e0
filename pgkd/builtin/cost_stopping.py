"""What each step's samples bought, and an optional rule that stops a run once they buy too
little.

A step's *gain* is how much it lowered the best validation loss so far (``max(0, best before
the step - the step's loss)``: the student early stopping would keep). Divided by what the step
cost it reads as gain per 1,000 generated samples (every sample the teacher wrote, accepted or
not: each was paid for), per dollar (the step's teacher cost, verification calls included when
a plugin makes them through the pool's accounting) and per teacher call (the measure for a free
teacher, a local model or an unpriced server, whose cost is 0). Calls count replies taken from
the response cache too, so a resumed run, whose interrupted step is replayed from the cache,
counts the calls an uninterrupted run made; the dollars of those replies were paid before the
interruption and are not counted again.

:func:`step_gain` computes these; the loop writes them into each step's metrics line (``gain``)
and the report plots the cumulative gain against the cumulative spend.

The rule (off unless ``threshold`` is set): ``[plugins.options.cost_stopping]``
``threshold = 0.05`` and ``window = 3`` end the run when the gain per dollar summed over the
last ``window`` steps falls below ``threshold`` (``per = "call"`` or ``"1k_samples"`` measures
it per teacher call or per 1,000 generated samples instead; a free teacher has no gain per
dollar, so the rule never fires on it unless ``per`` says otherwise). The best student so far
is kept, as with any stop. The plugin keeps each step's gain and spend in ``run_state``, so a
resumed run decides as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from pgkd.builtin.plugin_options import plugin_table, read_int, read_number
from pgkd.errors import ConfigError
from pgkd.hookspecs import hookimpl
from pgkd.types import Prompt, StepContext, StepRecord, StepVerdict

__all__ = ["NAME", "PER", "CostStopping", "StopOptions", "step_gain", "window_rate"]

NAME = "cost_stopping"
#: What the rule divides the gain by, by its ``per`` name: the fields of :func:`step_gain`.
PER = {"usd": "cost_usd", "call": "calls", "1k_samples": "generated"}


@dataclass(frozen=True, slots=True)
class StopOptions:
    threshold: float | None = None
    window: int = 3
    per: str = "usd"

    @classmethod
    def from_settings(cls, settings: object) -> StopOptions:
        table = plugin_table(settings, NAME, ("threshold", "window", "per"))
        per = table.get("per", "usd")
        if per not in PER:
            raise ConfigError(
                f"[plugins.options.{NAME}] per = {per!r} must be one of {', '.join(PER)}"
            )
        return cls(
            threshold=read_number(table, NAME, "threshold", None),
            window=read_int(table, NAME, "window", 3, low=1),
            per=str(per),
        )


def step_gain(
    val_losses: Sequence[float], generated: int, calls: int, cost_usd: float
) -> dict[str, float | int | None]:
    """The last step's gain (``val_losses`` ends with its student's loss, model_0 first) and
    the gain per 1,000 generated samples, per dollar and per call (None where the divisor is
    0), with the step's spend."""
    if len(val_losses) < 2:
        raise ValueError("step_gain needs model_0's loss and the step's")
    best_before = min(val_losses[:-1])
    gain = max(0.0, best_before - val_losses[-1])
    if not math.isfinite(gain):
        gain = 0.0
    return {
        "val_loss_gain": gain,
        "generated": generated,
        "calls": calls,
        "cost_usd": cost_usd,
        "per_1k_samples": gain / generated * 1000 if generated else None,
        "per_usd": gain / cost_usd if cost_usd > 0 else None,
        "per_call": gain / calls if calls else None,
    }


def window_rate(steps: Sequence[dict[str, Any]], window: int, per: str) -> float | None:
    """Summed gain over the last ``window`` steps divided by their summed spend (``per``), or
    None with fewer steps than the window or nothing spent."""
    if len(steps) < window:
        return None
    last = steps[-window:]
    spent = sum(float(s.get(PER[per]) or 0.0) for s in last)
    if per == "1k_samples":
        spent /= 1000
    if spent <= 0:
        return None
    return sum(float(s.get("val_loss_gain") or 0.0) for s in last) / spent


class CostStopping:
    """Records each step's spend (a wrapper on ``generate``) and gain (``on_step_end``) in
    ``run_state``, and stops the run by the rule above when ``threshold`` is set."""

    @hookimpl(wrapper=True)
    def generate(
        self, context: StepContext, prompt: Prompt, pool: Any, n_samples: int
    ) -> Generator[None, Awaitable[Any] | None, Awaitable[Any] | None]:
        pending = yield
        if pending is None:
            return None
        return self._spend(context, pending)

    async def _spend(self, context: StepContext, pending: Awaitable[Any]) -> Any:
        generation = await pending
        mine = context.run_state.setdefault(NAME, {"steps": []})
        mine["pending"] = {
            "generated": len(getattr(generation, "candidates", ())),
            "calls": int(getattr(generation, "calls", 0))
            + int(getattr(generation, "cached_calls", 0)),
            "cost_usd": float(getattr(generation, "cost_usd", 0.0)),
        }
        return generation

    @hookimpl
    def on_step_end(self, context: StepContext, record: StepRecord) -> StepVerdict | None:
        mine = context.run_state.setdefault(NAME, {"steps": []})
        spend = mine.pop("pending", None) or {"generated": 0, "calls": 0, "cost_usd": 0.0}
        losses = list(context.val_losses)
        if len(losses) < 2:
            return None
        gain = step_gain(losses, spend["generated"], spend["calls"], spend["cost_usd"])
        steps: list[dict[str, Any]] = mine["steps"]
        steps.append({"step": record.step, **gain})
        options = StopOptions.from_settings(context.settings)
        if options.threshold is None:
            return None
        rate = window_rate(steps, options.window, options.per)
        if rate is None or rate >= options.threshold:
            return None
        unit = {"usd": "dollar", "call": "teacher call", "1k_samples": "1,000 samples"}
        return StepVerdict(
            stop=True,
            reason=(
                f"validation-loss gain per {unit[options.per]} over the last {options.window} "
                f"steps {rate:.4g} < threshold {options.threshold:g}"
            ),
        )
