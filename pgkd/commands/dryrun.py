"""``pgkd run --dry-run``: the first prompt a run would send and what the whole run would cost,
without calling any teacher and without writing a run directory.

It loads the data, trains model_0 (the prompt is built from its validation report and its
predictions, so it cannot be faked) and fires the same ``on_eval``, ``select_examples``,
``build_prompt`` and, for each of step 1's calls, ``prepare_call`` hooks as a real run,
including the held-out-text check. It shows the first call's prompt: under the default preset
that is the plain prompt (per-call views, ``explore = 1.0``), not the guided step prompt.

The estimate assumes every call parses and every step runs (no early stop):

- calls: ``steps * ceil(batch_size / samples_per_call)``; retries, re-asks and extra calls
  after malformed answers come on top;
- input tokens per call: (prompt + answer schema characters) / 4 + 16, the estimate the
  teacher pool itself reserves budget with, averaged over step 1's calls (each its own view);
  later steps' prompts differ a little (other examples);
- output tokens per call: ``samples_per_call`` samples as long as the training texts on
  average (characters / 4) plus JSON and label tokens, capped by ``[teacher] max_tokens``;
- cost: the teacher's price (``[teacher] options`` ``price_in``/``price_out``, else the built-in
  table); a model without a known price shows no cost. For a provider with a batch API both
  prices are shown: online, and through the batch API (``[teacher] batch = true``).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING, Any

import orjson

from pgkd.config import Config
from pgkd.presets import PRESETS, preset_lines
from pgkd.progress import Progress
from pgkd.types import CallPlan, Prompt, StepContext

if TYPE_CHECKING:
    from pgkd.fill.pool import CallPreparer

#: Tokens a sample costs besides its text: JSON keys, quotes, the label.
SAMPLE_OVERHEAD_TOKENS = 12
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class DryRunEstimate:
    prompt: Prompt
    steps: int
    calls_per_step: int
    input_tokens_per_call: int
    output_tokens_per_call: int
    price_in: float | None
    price_out: float | None
    #: The provider's batch API prices (None: no batch API, or no known price).
    batch_price_in: float | None = None
    batch_price_out: float | None = None

    @property
    def calls(self) -> int:
        return self.steps * self.calls_per_step

    @property
    def input_tokens(self) -> int:
        return self.calls * self.input_tokens_per_call

    @property
    def output_tokens(self) -> int:
        return self.calls * self.output_tokens_per_call

    @property
    def cost_usd(self) -> float | None:
        return self._cost(self.price_in, self.price_out)

    @property
    def batch_cost_usd(self) -> float | None:
        return self._cost(self.batch_price_in, self.batch_price_out)

    def _cost(self, price_in: float | None, price_out: float | None) -> float | None:
        if price_in is None or price_out is None:
            return None
        return (self.input_tokens * price_in + self.output_tokens * price_out) / 1e6


def dry_run(config: Config, *, progress: Progress | None = None) -> DryRunEstimate:
    """Train model_0, build step 1's prompt and estimate the run; calls no teacher."""
    from pgkd.build import build_setup, call_preparer, teacher_settings
    from pgkd.fill.pricing import batch_price_for, price_for
    from pgkd.loop import LoopState

    setup = build_setup(config, progress=progress)
    task, splits = setup.task, setup.splits
    setup.progress.stage("training model_0 (the prompt is built from its scores)")
    trained = setup.trainer()(list(splits.train))
    setup.progress.finish_all()
    state = LoopState(history=list(splits.train))
    context, prompt = asyncio.run(setup.step_hooks().prepare(1, state, trained))
    price = price_for(teacher_settings(config))
    batch_price = batch_price_for(teacher_settings(config))
    k = config.teacher.samples_per_call
    plans = step_plans(
        call_preparer(setup.pm, setup.guard), context, prompt, config.kd.batch_size, k
    )
    per_call = [
        input_tokens(plan.prompt, task.answer_schema(plan.n_samples, splits.labels))
        for plan in plans
    ]
    sample_tokens = fmean(len(s.text) for s in splits.train) / CHARS_PER_TOKEN
    return DryRunEstimate(
        prompt=plans[0].prompt,
        steps=config.kd.steps,
        calls_per_step=len(plans),
        input_tokens_per_call=round(fmean(per_call)),
        output_tokens_per_call=min(
            config.teacher.max_tokens, math.ceil(k * (sample_tokens + SAMPLE_OVERHEAD_TOKENS))
        ),
        price_in=price.input_per_mtok if price else None,
        price_out=price.output_per_mtok if price else None,
        batch_price_in=batch_price.input_per_mtok if batch_price else None,
        batch_price_out=batch_price.output_per_mtok if batch_price else None,
    )


def step_plans(
    preparer: CallPreparer, context: StepContext, prompt: Prompt, batch_size: int, k: int
) -> list[CallPlan]:
    """Step 1's calls as the teacher pool plans them: ``ceil(batch_size / k)`` calls of ``k``
    samples (the last one the rest), each given its ``prepare_call`` plan or the step's
    prompt."""
    n_calls = math.ceil(batch_size / k)
    plans = []
    for index in range(n_calls):
        size = min(k, batch_size - index * k)
        plan = preparer(
            context=context, prompt=prompt, call_index=index, n_calls=n_calls, n_samples=size
        )
        plans.append(plan if plan is not None else CallPlan(prompt, size))
    return plans


def input_tokens(prompt: Prompt, schema: Any) -> int:
    schema_chars = len(orjson.dumps(schema)) if schema else 0
    return (len(prompt.system) + len(prompt.user) + schema_chars) // CHARS_PER_TOKEN + 16


def format_dry_run(estimate: DryRunEstimate, config: Config) -> str:
    """The prompt, then the estimate, for the terminal."""
    t = config.teacher
    cost = estimate.cost_usd
    if cost is None:
        cost_line = (
            f"unknown: {t.model!r} has no known price; set [teacher] options price_in and "
            "price_out (USD per million tokens)"
        )
    else:
        cost_line = (
            f"~${cost:,.4f} (${estimate.price_in:g} / ${estimate.price_out:g} per million "
            "input / output tokens)"
        )
    batch_cost = estimate.batch_cost_usd
    if batch_cost is not None:
        mode = "this run" if t.batch else "with [teacher] batch = true"
        cost_line += (
            f"\n  batch cost    ~${batch_cost:,.4f} through the provider's batch API ({mode}; "
            f"${estimate.batch_price_in:g} / ${estimate.batch_price_out:g} per million tokens, "
            "answers within the provider's window instead of seconds)"
        )
    caps = [f"max_cost_usd ${t.max_cost_usd:g}"] if t.max_cost_usd else []
    caps += [f"max_calls {t.max_calls}"] if t.max_calls else []
    lines = [
        "=== system prompt (step 1) ===",
        estimate.prompt.system,
        "",
        "=== user prompt (step 1) ===",
        estimate.prompt.user,
        "",
        "=== estimate for the whole run (no teacher was called) ===",
        f"  teacher       {t.model}",
        f"  KD steps      {estimate.steps} x {config.kd.batch_size} samples, "
        f"{t.samples_per_call} per call",
        f"  calls         {estimate.calls:,} ({estimate.calls_per_step} per step; retries and "
        "re-asks add more)",
        f"  input tokens  ~{estimate.input_tokens:,} "
        f"(~{estimate.input_tokens_per_call:,} per call)",
        f"  output tokens ~{estimate.output_tokens:,} (~{estimate.output_tokens_per_call:,} per "
        f"call, at most {t.max_tokens:,})",
        f"  cost          {cost_line}",
    ]
    if caps:
        lines.append(
            f"  budget caps   {', '.join(caps)}: the run stops cleanly when one is reached"
        )
    return "\n".join(lines + preset_summary(config))


def preset_summary(config: Config) -> list[str]:
    """The run's ``[kd] preset`` and the keys it set, as the dry run prints them."""
    preset = PRESETS[config.kd.preset]
    lines = [f"  preset        {preset.name}: {preset.description}"]
    lines += [f"                {line}" for line in preset_lines(preset, config.to_toml_dict())]
    return lines
