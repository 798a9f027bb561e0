"""Filling a KD step's batch from a teacher: a continuously refilled pool of concurrent calls.

:meth:`TeacherPool.fill` keeps up to ``concurrency`` requests on the wire, each call asking for
``samples_per_call`` samples; as soon as a slot frees another call starts (no call waits for the
slowest of a chunk), and a call waiting out a backoff or ``Retry-After`` lends its slot to a new
one. It starts a new call only while the samples in hand plus those the running calls will bring
fall short of the batch (so, without failures, it never pays for a sample it does not need),
stops once the batch holds ``n_samples`` parsed candidates, and cancels the calls still running
(a cancelled request counts as a failed call). Retries, re-asks, accounting, the cache and the
journal are per call: see :mod:`pgkd.fill.call`.

Calls of one fill may differ: before issuing a call the pool asks its ``prepare_call``
(a :class:`CallPreparer`, which the runner wires to the ``prepare_call`` hook) for the call's
:class:`~pgkd.types.CallPlan`, its prompt and sample count. The pool counts on each running
call for its plan's count, replaces a call that gave up with a new call of the same plan, and
stops planning at a plan of 0 samples. A plan whose prompt is not the fill's is journaled as a
``call_prompt`` event (``step``, ``call_id``, ``system``, ``user``) before the call is sent.

How a fill ends:

- the batch is full: :class:`Generation` with exactly ``n_samples`` parsed candidates;
- the budget ran out (:class:`~pgkd.errors.BudgetExceeded` before a request): no new calls,
  the calls in flight finish (they are paid for), and the fill returns what it has with
  ``budget_exhausted=True``; with nothing in hand it raises :class:`BudgetExceeded`, which ends
  the run cleanly with the best student so far;
- the teacher failed for good (bad key, unknown model: a permanent :class:`TeacherError`), a
  call ran out of retries without ever connecting (:class:`TeacherUnreachable`: "cannot connect
  to URL"), or more calls ran out of retries/re-asks than ``max_abandoned_calls``:
  :class:`TeacherFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from pgkd.errors import BudgetExceeded, PgkdError
from pgkd.fill.answer import MalformedAnswer
from pgkd.fill.backoff import Backoff
from pgkd.fill.batch_fill import BatchFill, BatchMode, require_batch_api
from pgkd.fill.cache import ResponseCache
from pgkd.fill.call import CallOutcome, CallRunner, call_id
from pgkd.fill.pricing import batch_price_for, price_for
from pgkd.fill.ratelimit import RateLimit
from pgkd.fill.sender import CallLimits, backstop
from pgkd.fill.usage import Usage, UsageTotals
from pgkd.fill.writer import ReplyWriter
from pgkd.store import JsonlLog
from pgkd.teachers.base import (
    Teacher,
    TeacherError,
    TeacherRequest,
    TeacherUnreachable,
    TransientTeacherError,
)
from pgkd.types import CallPlan, Candidate, Prompt, StepContext

log = logging.getLogger("pgkd.teachers")

#: ``progress(accepted, requested, in_flight, retries, cost_usd)``: parsed samples in hand, the
#: batch size, requests on the wire, transport retries plus re-asks in this fill, run spend.
FillProgress = Callable[[int, int, int, int, float], None]


class CallPreparer(Protocol):
    """Plans one call of a fill: ``None`` keeps the fill's prompt and ``n_samples``. Called
    once per planned call, as it is issued, with the arguments of the ``prepare_call`` hook."""

    def __call__(
        self,
        *,
        context: StepContext,
        prompt: Prompt,
        call_index: int,
        n_calls: int,
        n_samples: int,
    ) -> CallPlan | None: ...


class TeacherFailed(PgkdError):
    """The teacher cannot fill the batch: a permanent error, or too many calls gave up."""


@dataclass(kw_only=True)
class Generation(UsageTotals):
    """What one fill produced, and what it cost: the teacher counters of
    :class:`~pgkd.fill.usage.UsageTotals` hold this fill's share of the run's Usage.

    ``candidates`` holds the ``parsed`` candidates (exactly ``requested`` when the batch was
    filled), ordered by call, followed by the records that did not fit the task's schema
    (``sample is None``, ``parse_error`` set), which the loop rejects and journals.
    """

    candidates: list[Candidate]
    requested: int = 0
    parsed: int = 0
    unparsable: int = 0
    #: Parsed samples that arrived after the batch was full and were dropped.
    surplus: int = 0
    #: Calls that ran out of retries or re-asks.
    abandoned_calls: int = 0
    #: Requests in flight cancelled because the batch was full.
    cancelled_calls: int = 0
    budget_exhausted: bool = False
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.parsed >= self.requested

    def accounting(self) -> dict[str, Any]:
        """What the fill cost and how it went: every field but the samples (a step's
        ``generation`` in ``metrics.jsonl``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "candidates"}


@dataclass(slots=True)
class FillTally:
    """What a fill has in hand so far (shared by the online and the batch dispatch)."""

    requested: int
    taken: list[tuple[int, list[Candidate]]] = field(default_factory=list)
    unparsable: list[tuple[int, list[Candidate]]] = field(default_factory=list)
    accepted: int = 0
    surplus: int = 0
    abandoned: int = 0
    budget: BudgetExceeded | None = None
    failure: BaseException | None = None

    def take(self, outcome: CallOutcome) -> None:
        room = self.requested - self.accepted
        self.taken.append((outcome.index, outcome.parsed[:room]))
        self.unparsable.append((outcome.index, outcome.unparsable))
        self.accepted += min(room, len(outcome.parsed))
        self.surplus += max(0, len(outcome.parsed) - room)

    def candidates(self) -> list[Candidate]:
        ordered = sorted(self.taken, key=lambda item: item[0])
        bad = sorted(self.unparsable, key=lambda item: item[0])
        return [c for _, cs in ordered for c in cs] + [c for _, cs in bad for c in cs]


class TeacherPool:
    """The configured teacher wrapped with concurrency, retries, re-asks, the response cache,
    accounting and the journal. One pool serves a whole run; fills run one after another."""

    def __init__(
        self,
        teacher: Teacher,
        *,
        task: Any,
        labels: Sequence[str],
        concurrency: int = 4,
        samples_per_call: int = 8,
        max_retries: int = 5,
        max_reasks: int = 2,
        usage: Usage | None = None,
        journal: JsonlLog | None = None,
        cache: ResponseCache | None = None,
        rate_limit: RateLimit | None = None,
        progress: FillProgress | None = None,
        seed: int = 0,
        max_cost_usd: float | None = None,
        max_calls: int | None = None,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        backoff: Backoff | None = None,
        call_timeout: float | None = None,
        max_abandoned_calls: int | None = None,
        prepare_call: CallPreparer | None = None,
        batch: BatchMode | None = None,
    ) -> None:
        if concurrency < 1 or samples_per_call < 1 or max_retries < 0 or max_reasks < 0:
            raise ValueError("concurrency and samples_per_call must be >= 1, retries >= 0")
        self.teacher = teacher
        self.task = task
        self.labels = tuple(labels)
        self.concurrency = concurrency
        self.samples_per_call = samples_per_call
        self.usage = usage if usage is not None else Usage()
        self.usage.max_cost_usd = (
            max_cost_usd if max_cost_usd is not None else self.usage.max_cost_usd
        )
        self.usage.max_calls = max_calls if max_calls is not None else self.usage.max_calls
        #: Fills go through the provider's batch API (:mod:`pgkd.fill.batch_fill`).
        self.batch = batch
        self.batch_api = require_batch_api(teacher) if batch is not None else None
        if self.usage.price is None:
            pricing = batch_price_for if batch is not None else price_for
            self.usage.price = pricing(teacher.settings, type(teacher))
        self.usage.check_priced(teacher.name)
        self.limits = CallLimits(
            max_retries=max_retries,
            max_reasks=max_reasks,
            call_timeout=call_timeout if call_timeout is not None else backstop(teacher),
            backoff=backoff or Backoff(),
        )
        self.writer = ReplyWriter(journal, cache)
        self.cache = cache
        if rate_limit is None and (requests_per_minute or tokens_per_minute):
            rate_limit = RateLimit(
                requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
            )
        self.rate_limit = rate_limit
        self.progress = progress
        self.seed = seed
        self.max_abandoned_calls = max_abandoned_calls
        #: Plans each call of a fill that has a step context (see :class:`CallPreparer`).
        self.prepare_call = prepare_call
        #: Why a fill ran out of budget; every later fill is refused with it, so a run stops
        #: at an exhausted budget even when no plugin stops it.
        self.budget_exhausted: BudgetExceeded | None = None
        self._rng = random.Random(seed)

    async def fill(
        self,
        prompt: Prompt,
        n_samples: int,
        *,
        context: StepContext | None = None,
        step: int | None = None,
    ) -> Generation:
        """Ask the teacher for ``n_samples`` samples (``step`` defaults to ``context.step``).

        Once a fill ran out of budget, every later fill of the pool is refused with
        :class:`BudgetExceeded` before any request, so a run cannot go past an exhausted
        budget even when no plugin stops it."""
        step = step if step is not None else (context.step if context is not None else 0)
        if self.budget_exhausted is not None:
            raise BudgetExceeded(str(self.budget_exhausted))
        started = time.perf_counter()
        before = self.usage.totals()
        tally = FillTally(requested=n_samples)
        runner = self._runner(prompt, step, tally)
        planner = CallPlanner(self, prompt, context, step, n_samples)
        try:
            if self.batch is not None and self.batch_api is not None:
                batch = BatchFill(
                    self,
                    self.batch,
                    self.batch_api,
                    step=step,
                    template=runner.template,
                    failure=TeacherFailed,
                )
                await batch.run(planner, tally)
            else:
                await self._dispatch(runner, tally, planner)
        finally:
            await self.writer.drain()
        if tally.failure is not None:
            raise tally.failure
        self.budget_exhausted = tally.budget
        if tally.budget is not None and tally.accepted == 0:
            raise tally.budget
        delta = self.usage.totals().minus(before)
        candidates = tally.candidates()
        return Generation(
            candidates=candidates,
            requested=n_samples,
            parsed=tally.accepted,
            unparsable=len(candidates) - tally.accepted,
            **delta.as_dict(),
            surplus=tally.surplus,
            abandoned_calls=tally.abandoned,
            cancelled_calls=runner.cancelled,
            budget_exhausted=tally.budget is not None,
            seconds=time.perf_counter() - started,
        )

    def _runner(self, prompt: Prompt, step: int, tally: FillTally) -> CallRunner:
        template = self.request_for(CallPlan(prompt, self.samples_per_call))
        runner: CallRunner

        def changed() -> None:
            if self.progress is not None:
                retries = runner.retries + runner.reasks
                self.progress(
                    tally.accepted, tally.requested, runner.in_flight, retries, self.usage.cost_usd
                )

        runner = CallRunner(
            self.teacher,
            task=self.task,
            template=template,
            run_seed=self.seed,
            step=step,
            limits=self.limits,
            usage=self.usage,
            writer=self.writer,
            cache=self.cache,
            rate_limit=self.rate_limit,
            rng=self._rng,
            concurrency=self.concurrency,
            on_change=changed,
        )
        return runner

    def request_for(self, plan: CallPlan) -> TeacherRequest:
        """The request template of a call with ``plan`` (its seed is set per attempt); it
        carries what the plan's prompt shows (``contents``) for teachers that read it."""
        settings = self.teacher.settings
        return TeacherRequest(
            system=plan.prompt.system,
            user=plan.prompt.user,
            schema=self.task.answer_schema(plan.n_samples, self.labels),
            n_samples=plan.n_samples,
            seed=0,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            contents=plan.prompt.contents,
        )

    async def _dispatch(self, runner: CallRunner, tally: FillTally, planner: CallPlanner) -> None:
        """Start calls while the batch needs them, the plan has more and a slot is free (calls
        waiting out a backoff hold none); settle each as it finishes; cancel the rest once
        full. ``expected`` is what the running calls will bring, by their plans."""
        limit, n_samples = self.concurrency, tally.requested
        max_abandoned = self.max_abandoned_calls or max(1, planner.n_calls)
        finished: deque[asyncio.Task[CallOutcome]] = deque()
        running: dict[asyncio.Task[CallOutcome], CallPlan] = {}

        def on_done(task: asyncio.Task[CallOutcome]) -> None:
            finished.append(task)
            runner.wake.set()

        next_index = expected = 0
        try:
            while tally.accepted < n_samples and tally.failure is None:
                while (
                    tally.budget is None
                    and len(running) - runner.waiting < limit
                    and tally.accepted + expected < n_samples
                ):
                    plan = planner.next()
                    if plan is None:
                        break
                    request = runner.template
                    if plan.prompt != planner.prompt or plan.n_samples != self.samples_per_call:
                        request = self.request_for(plan)
                    if plan.prompt != planner.prompt:
                        self.writer.write_later(planner.event(next_index, plan.prompt))
                    task = asyncio.create_task(runner.run(next_index, request))
                    task.add_done_callback(on_done)
                    running[task] = plan
                    expected += plan.n_samples
                    next_index += 1
                if not running:
                    break
                if not finished:
                    runner.wake.clear()
                    await runner.wake.wait()
                    continue
                task = finished.popleft()
                plan = running.pop(task)
                expected -= plan.n_samples
                if self._settle(task, tally, max_abandoned):
                    planner.replace(plan)
                runner.on_change()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _settle(
        self, task: asyncio.Task[CallOutcome], tally: FillTally, max_abandoned: int
    ) -> bool:
        """Count a finished call into ``tally``; True when it gave up (to be replaced)."""
        exc = task.exception()
        if exc is None:
            tally.take(task.result())
        elif isinstance(exc, BudgetExceeded):
            tally.budget = tally.budget or exc
        elif isinstance(exc, TeacherUnreachable):
            # Out of retries and still no connection: every other call meets the same door.
            tally.failure = TeacherFailed(
                f"teacher {self.teacher.name}: {exc}; start the server or fix [teacher] base_url"
            )
            tally.failure.__cause__ = exc
        elif isinstance(exc, TransientTeacherError | MalformedAnswer):
            tally.abandoned += 1
            log.warning("%s: a call gave up: %s", self.teacher.name, exc)
            if tally.abandoned > max_abandoned:
                tally.failure = TeacherFailed(
                    f"teacher {self.teacher.name}: {tally.abandoned} calls gave up after "
                    f"retries/re-asks (last: {exc}); check the server, or raise [teacher] "
                    "max_retries / max_reasks"
                )
                tally.failure.__cause__ = exc
            return True
        elif isinstance(exc, TeacherError):
            tally.failure = TeacherFailed(f"teacher {self.teacher.name}: {exc}")
            tally.failure.__cause__ = exc
        else:
            tally.failure = exc
        return False

    async def aclose(self) -> None:
        """Close the teacher's connections."""
        await self.teacher.aclose()


class CallPlanner:
    """The plans of one fill's calls, in issue order: a replacement for a call that gave up
    first, else the next plan from the pool's ``prepare_call`` (the fill's prompt and
    ``samples_per_call`` without one, or without a step context), until a plan of 0."""

    def __init__(
        self,
        pool: TeacherPool,
        prompt: Prompt,
        context: StepContext | None,
        step: int,
        n_samples: int,
    ) -> None:
        self.prompt, self.context, self.step = prompt, context, step
        self.samples_per_call = pool.samples_per_call
        self.n_calls = math.ceil(n_samples / pool.samples_per_call)
        self.prepare_call = pool.prepare_call if context is not None else None
        self.planned = 0
        self.done = False
        self._replacements: deque[CallPlan] = deque()

    def next(self) -> CallPlan | None:
        if self._replacements:
            return self._replacements.popleft()
        if self.done:
            return None
        plan = None
        if self.prepare_call is not None and self.context is not None:
            plan = self.prepare_call(
                context=self.context,
                prompt=self.prompt,
                call_index=self.planned,
                n_calls=self.n_calls,
                n_samples=self.samples_per_call,
            )
        self.planned += 1
        if plan is None:
            return CallPlan(self.prompt, self.samples_per_call)
        if plan.n_samples <= 0:
            self.done = True
            return None
        return plan

    def replace(self, plan: CallPlan) -> None:
        self._replacements.append(plan)

    def event(self, index: int, prompt: Prompt) -> dict[str, Any]:
        return {
            "event": "call_prompt",
            "step": self.step,
            "call_id": call_id(self.step, index),
            "system": prompt.system,
            "user": prompt.user,
        }
