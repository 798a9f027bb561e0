"""Algorithm 1 of the paper as an async loop that fires hooks and records, and owns nothing else.

The loop evaluates the *new* student after each step (the paper's pseudo-code evaluates the
previous one). CPU-bound training and evaluation run in a worker thread so the event loop stays
free for teacher calls.

Policy and wiring live elsewhere: which student is best and when to stop are the
``on_step_end`` plugins' (the built-in :mod:`pgkd.builtin.early_stopping` also stops on an
exhausted teacher budget, which each :class:`~pgkd.types.StepRecord` reports), and their
answers combine in :mod:`pgkd.verdicts`; a step's teacher accounting is its
:class:`~pgkd.fill.pool.Generation`'s; plugins' ``run_state`` is committed by
:mod:`pgkd.rundir.run_state`; the parts are built once, in :mod:`pgkd.build`. With early
stopping disabled a run still never goes past an exhausted budget: the teacher pool refuses
every fill after the one that ran out, and the :class:`~pgkd.errors.BudgetExceeded` it raises
ends the loop cleanly with the best student so far.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
import pluggy

from pgkd.builtin.cost_stopping import step_gain
from pgkd.errors import BudgetExceeded, PgkdError, PluginError
from pgkd.fill.pool import Generation, TeacherPool
from pgkd.guard import HeldOutGuard
from pgkd.rundir.run_state import committed_run_state
from pgkd.students.base import Student
from pgkd.types import (
    Candidate,
    Evaluation,
    Prediction,
    Prompt,
    Rejection,
    Sample,
    StepContext,
    StepRecord,
    StepVerdict,
)
from pgkd.verdicts import combine_verdicts


@dataclass
class Trained:
    """A student with its evaluations: ``train`` predictions align with the history;
    ``train_predictions_info`` says how they were made (kind, folds, misclassified count)."""

    student: Student
    validation: Evaluation
    test: Evaluation | None
    loop_test: Evaluation | None
    train_predictions: list[Prediction]
    seconds: dict[str, float]
    train_predictions_info: dict[str, Any] = field(default_factory=dict)


#: Fits a student on a history and evaluates it (see :func:`pgkd.build.make_trainer`).
TrainStudent = Callable[[list[Sample]], Trained]


@dataclass
class LoopState:
    """What the loop has learned so far; rebuilt from the run directory on resume."""

    history: list[Sample]
    val_losses: list[float] = field(default_factory=list)
    best_step: int = 0
    steps_run: int = 0
    stopped_early: bool = False
    stop_reason: str = ""
    #: Plugins' ``run_state`` as the last completed step left it.
    run_state: dict[str, Any] = field(default_factory=dict)


class LoopRecorder(Protocol):
    """Side effects the loop asks for; :class:`pgkd.rundir.recorder.Recorder` writes them to
    the run directory (journal, metrics, checkpoints)."""

    def record_samples(
        self, step: int, candidates: Sequence[Candidate], rejections: dict[int, list[Rejection]]
    ) -> None: ...

    def record_step(self, step: int, trained: Trained, extra: dict[str, Any]) -> None: ...

    def record_prompt(self, step: int, prompt: Prompt) -> None: ...

    def record_run_state(self, step: int, run_state: dict[str, Any]) -> None: ...

    def save_best(self, step: int, trained: Trained) -> None: ...


@dataclass
class StepHooks:
    """The hooks of a KD step that need no teacher, no training and no run directory: the
    step's :class:`~pgkd.types.StepContext` and its prompt (``on_eval``, ``select_examples``,
    ``build_prompt`` and the held-out check). ``pgkd run --dry-run`` uses these alone;
    :class:`Loop` adds the teacher, the batch's validation, the training and the records."""

    pm: pluggy.PluginManager
    task: Any
    labels: tuple[str, ...]
    settings: Any
    seed: int
    samples_per_call: int
    guard: HeldOutGuard
    #: Handed to plugins as ``StepContext.run_dir`` (``None`` when nothing is written, e.g. a
    #: dry run).
    run_dir: Path | None = field(default=None, kw_only=True)

    def context(self, step: int, state: LoopState, current: Trained) -> StepContext:
        return StepContext(
            step=step,
            task=self.task,
            labels=self.labels,
            history=state.history,
            train_predictions=current.train_predictions,
            validation=current.validation,
            settings=self.settings,
            seed=self.seed,
            val_losses=tuple(state.val_losses),
            guard=self.guard,
            run_state=orjson.loads(orjson.dumps(state.run_state)),
            run_dir=self.run_dir,
        )

    async def prepare(
        self,
        step: int,
        state: LoopState,
        current: Trained,
        timings: dict[str, float] | None = None,
    ) -> tuple[StepContext, Prompt]:
        """Fire ``on_eval``, ``select_examples`` and ``build_prompt``; check the prompt.
        ``timings`` gets the seconds of each part: ``report``, ``selection``, ``prompt``."""
        parts = timings if timings is not None else {}
        mark = time.perf_counter()
        ctx = self.context(step, state, current)
        # pluggy returns the newest plugin's answer first and the trylast built-ins' last;
        # merging in reverse lets a user's plugin replace a built-in's entry of the same name.
        for section in reversed(self.pm.hook.on_eval(context=ctx)):
            if section:
                ctx.report.update(section)
        mark = _lap(parts, "report", mark)
        for picked in reversed(self.pm.hook.select_examples(context=ctx)):
            if picked:
                ctx.examples.update({name: list(items) for name, items in picked.items()})
        mark = _lap(parts, "selection", mark)
        prompt = self.pm.hook.build_prompt(context=ctx, n_samples=self.samples_per_call)
        if prompt is None:
            raise PgkdError(
                "no plugin built a prompt; enable 'pgkd_prompt' or load a prompt plugin"
            )
        self.guard.check_prompt(prompt.text)
        _lap(parts, "prompt", mark)
        return ctx, prompt


@dataclass
class Loop(StepHooks):
    """A run's KD steps: the step hooks, then the teacher's batch (``generate``), training the
    new student, ``on_step_end``, and the records of each."""

    steps: int
    batch_size: int
    pool: TeacherPool
    train_student: TrainStudent
    recorder: LoopRecorder

    async def _train(self, history: list[Sample]) -> Trained:
        return await asyncio.to_thread(self.train_student, list(history))

    async def run(self, state: LoopState, current: Trained | None = None) -> LoopState:
        """Run KD steps from ``state.steps_run + 1``. ``current`` is the student of the last
        completed step (trained here when not given)."""
        if current is None:
            started = time.perf_counter()
            current = await self._train(state.history)
            if not state.val_losses:
                state.val_losses.append(current.validation.loss)
                seconds = {**current.seconds, "step": time.perf_counter() - started}
                extra = {"accepted": 0, "rejected": 0, "seconds": seconds}
                self.recorder.record_step(0, current, extra)
                self.recorder.save_best(0, current)
        for step in range(state.steps_run + 1, self.steps + 1):
            try:
                current, verdict = await self._step(step, state, current)
            except BudgetExceeded as exc:
                state.stopped_early, state.stop_reason = True, f"budget: {exc}"
                break
            state.steps_run = step
            if verdict.stop:
                state.stopped_early, state.stop_reason = True, verdict.reason
                break
        return state

    async def _step(
        self, step: int, state: LoopState, current: Trained
    ) -> tuple[Trained, StepVerdict]:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        ctx, prompt = await self.prepare(step, state, current, timings)
        self.recorder.record_prompt(step, prompt)
        timings["prepare"] = time.perf_counter() - started
        mark = time.perf_counter()
        generation = await self._generate(ctx, prompt)
        timings["teacher"] = time.perf_counter() - mark
        mark = time.perf_counter()
        accepted, reasons = self._validate(ctx, generation.candidates)
        self.recorder.record_samples(step, generation.candidates, reasons)
        timings["validation"] = time.perf_counter() - mark
        state.history.extend(accepted)
        trained = await self._train(state.history)
        state.val_losses.append(trained.validation.loss)
        ctx.val_losses = tuple(state.val_losses)
        record = StepRecord(
            step=step,
            validation=trained.validation,
            test=trained.test,
            accepted=len(accepted),
            rejected=len(generation.candidates) - len(accepted),
            history_size=len(state.history),
            best_loss=min(state.val_losses),
            best_step=state.best_step,
            teacher_budget_exhausted=generation.budget_exhausted,
        )
        verdict = combine_verdicts(self.pm.hook.on_step_end(context=ctx, record=record))
        run_state = committed_run_state(ctx.run_state)
        if verdict.is_best:
            state.best_step = step
            self.recorder.save_best(step, trained)
        timings.update(trained.seconds)
        timings["step"] = time.perf_counter() - started
        # Journaled before the step's metrics line, which marks the step complete.
        self.recorder.record_run_state(step, run_state)
        state.run_state = run_state
        self.recorder.record_step(
            step,
            trained,
            {
                "accepted": record.accepted,
                "rejected": record.rejected,
                "rejected_by_reason": dict(Counter(found[0].reason for found in reasons.values())),
                "is_best": bool(verdict.is_best),
                "generation": generation.accounting(),
                "gain": step_gain(
                    state.val_losses,
                    len(generation.candidates),
                    generation.calls + generation.cached_calls,
                    generation.cost_usd,
                ),
                "seconds": timings,
            },
        )
        return trained, verdict

    async def _generate(self, ctx: StepContext, prompt: Prompt) -> Generation:
        pending = self.pm.hook.generate(
            context=ctx, prompt=prompt, pool=self.pool, n_samples=self.batch_size
        )
        if pending is None:
            raise PgkdError("no plugin generates samples; enable 'teacher_pool'")
        result = await pending if inspect.isawaitable(pending) else pending
        if not isinstance(result, Generation):
            raise PgkdError(f"the generate hook returned {type(result).__name__}, not Generation")
        return result

    def _validate(
        self, ctx: StepContext, candidates: Sequence[Candidate]
    ) -> tuple[list[Sample], dict[int, list[Rejection]]]:
        """The candidates no plugin rejected, and every rejection by candidate index (in the
        order given: the loop's own ``unparsable`` first, then the plugins', newest first)."""
        reasons: dict[int, list[Rejection]] = {}
        for i, cand in enumerate(candidates):
            if cand.sample is None:
                _add_reason(reasons, Rejection(i, "unparsable", cand.parse_error or "no sample"))
        for rejections in self.pm.hook.validate_samples(context=ctx, candidates=candidates):
            for rejection in rejections or ():
                _add_reason(reasons, rejection)
        accepted = [
            cand.sample
            for i, cand in enumerate(candidates)
            if cand.sample is not None and i not in reasons
        ]
        return accepted, reasons


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    """Record the seconds since ``since`` under ``name``; return now."""
    now = time.perf_counter()
    timings[name] = now - since
    return now


def _add_reason(reasons: dict[int, list[Rejection]], rejection: Rejection) -> None:
    if not isinstance(rejection, Rejection):
        raise PluginError(
            f"the validate_samples hook returned a {type(rejection).__name__}; "
            "return Rejection(index, reason, detail) objects"
        )
    reasons.setdefault(rejection.index, []).append(rejection)
