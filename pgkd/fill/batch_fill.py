"""Filling a KD step through the provider's batch API (``[teacher] batch = true``): half the
price, answers within the provider's window (up to a day) instead of seconds.

A fill goes in rounds. The first round plans the step's calls as the online pool would
(``ceil(batch_size / samples_per_call)`` calls, each planned by the ``prepare_call`` hook),
builds their requests (same prompts, schema and per-call seeds as online) and sends the ones
the response cache cannot answer as **one job**. The job id is journaled and fsynced before
anything waits on it (:mod:`pgkd.fill.batch_jobs`). The job is polled every
``poll_seconds`` (progress shows its state), and once it ended its results are read: each
reply is journaled and cached like an online reply, priced at the batch price, and parsed.

What did not work goes into the next round, as a new job, under the online limits:

- a reply that is not usable JSON is re-asked (a new seed and a note saying what was wrong), at
  most ``max_reasks`` times per call;
- a request that failed in a way worth retrying (a server error or rate limit inside the job,
  or one the job expired or was cancelled before running) is sent again unchanged, at most
  ``max_retries`` times;
- a call that ran out of either is abandoned and replaced by a new call, and the fill fails
  (:class:`~pgkd.fill.pool.TeacherFailed`) once more calls gave up than it has calls, as
  online; a permanent error (a 4xx other than 429) fails it at once.

A round only sends what the batch still needs. Requests of a journaled job are never submitted
again: a resumed run re-attaches to the job that holds them, pending or ended, and reads its
results (or takes them from the cache, when they were read before the run stopped).

Accounting: a request counts as a call when its job is submitted (or re-attached), against the
budget caps (``max_cost_usd`` reserves its estimated cost before the job is sent; requests
beyond the cap are not sent); its tokens and cost are counted when its result is read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from pgkd.errors import BudgetExceeded, ConfigError
from pgkd.fill.answer import MalformedAnswer, parse_answer, to_candidates
from pgkd.fill.backoff import RetryWait
from pgkd.fill.batch_jobs import ENDED_EVENT, JOB_EVENT, BatchLedger
from pgkd.fill.cache import request_key
from pgkd.fill.call import REASK_NOTE, CallOutcome, attempt_seed, call_id
from pgkd.fill.sender import teacher_call_event
from pgkd.teachers.base import (
    Teacher,
    TeacherError,
    TeacherReply,
    TeacherRequest,
    TeacherUnreachable,
    TransientTeacherError,
)
from pgkd.teachers.batch_api import BatchApi, BatchItem, BatchStatus
from pgkd.types import CallPlan

if TYPE_CHECKING:
    from pgkd.fill.pool import CallPlanner, FillTally, TeacherPool

log = logging.getLogger("pgkd.teachers")
T = TypeVar("T")

#: ``progress(accepted, requested, state)``: parsed samples in hand, the batch size, and the
#: state of the job being waited on (``"batch job ID: in_progress, 3/8 requests done"``).
BatchProgress = Callable[[int, int, str], None]


@dataclass(slots=True)
class BatchMode:
    """How a pool uses the batch API: the poll interval, the run's journaled jobs and where
    the job's state is shown."""

    poll_seconds: float = 30.0
    ledger: BatchLedger = field(default_factory=BatchLedger)
    progress: BatchProgress | None = None


async def with_retries(
    action: Callable[[], Awaitable[T]], *, max_retries: int, wait: RetryWait
) -> T:
    """``action`` (a call to a batch endpoint) with transport retries: a
    :class:`TransientTeacherError` is retried after ``wait``, at most ``max_retries`` times."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientTeacherError),
        stop=stop_after_attempt(max_retries + 1),
        wait=wait,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await action()
    raise AssertionError("unreachable: tenacity re-raises the last error")


def require_batch_api(teacher: Teacher) -> BatchApi:
    """``teacher``'s batch API; a :class:`~pgkd.errors.ConfigError` for a provider without
    one (``[teacher] batch = true`` cannot work with it)."""
    api = teacher.batch_api()
    if api is None:
        raise ConfigError(
            f"[teacher] batch = true: the {teacher.settings.provider} provider has no batch "
            "API; use an openai: or anthropic: teacher, or set batch = false"
        )
    return api


@dataclass(slots=True)
class _Request:
    """One attempt of one call: re-ask ``attempt``, transport retry ``retry``."""

    index: int
    plan: CallPlan
    #: The call's request before any re-ask (re-asks add a note to it).
    base: TeacherRequest
    request: TeacherRequest
    key: str
    attempt: int = 0
    retry: int = 0

    def custom_id(self, step: int) -> str:
        return f"{call_id(step, self.index)}-a{self.attempt}-r{self.retry}"


@dataclass(slots=True)
class _Job:
    """A job this round waits on, and which of its requests it waits for (by ``custom_id``)."""

    status: BatchStatus
    members: dict[str, _Request]
    #: Budget reserved per request, handed back when its result is read.
    reserved: dict[str, float]


Answer = TeacherReply | TeacherError


class BatchFill:
    """One fill of a :class:`~pgkd.fill.pool.TeacherPool` in batch mode (see the module
    docstring). :meth:`run` fills ``tally`` with the plans of ``planner``."""

    def __init__(
        self,
        pool: TeacherPool,
        mode: BatchMode,
        api: BatchApi,
        *,
        step: int,
        template: TeacherRequest,
        failure: Callable[[str], Exception],
    ) -> None:
        self.pool = pool
        #: Builds the error that fails the fill (the pool's ``TeacherFailed``).
        self.failure = failure
        self.mode = mode
        self.api = api
        self.step = step
        self.template = template
        self.teacher = pool.teacher
        self.usage = pool.usage
        self.writer = pool.writer
        self.limits = pool.limits
        self.rounds = 0
        self._next_index = 0
        self._state = ""
        self._wait = RetryWait(self.limits.backoff, random.Random(pool.seed), self.teacher.name)

    async def run(self, planner: CallPlanner, tally: FillTally) -> None:
        max_abandoned = self.pool.max_abandoned_calls or max(1, planner.n_calls)
        pending = self._plan(planner, tally, [])
        try:
            while pending and tally.failure is None and tally.accepted < tally.requested:
                self.rounds += 1
                answers = await self._round(pending, tally)
                retries = self._settle(answers, planner, tally, max_abandoned)
                pending = self._plan(planner, tally, retries)
                self._show(tally, self._state)
        except TeacherError as exc:
            tally.failure = self._failed(exc)

    # -- planning ---------------------------------------------------------------------------

    def _plan(
        self, planner: CallPlanner, tally: FillTally, retries: list[_Request]
    ) -> list[_Request]:
        """What the next round sends: retries first (in call order), then new calls, while
        what they would bring falls short of the batch."""
        if tally.budget is not None:
            return []
        need = tally.requested - tally.accepted
        chosen: list[_Request] = []
        expected = 0
        for item in sorted(retries, key=lambda r: r.index):
            if expected >= need:
                break
            if item.retry:
                self.usage.retries += 1
            else:
                self.usage.reasks += 1
            chosen.append(item)
            expected += item.plan.n_samples
        while expected < need:
            plan = planner.next()
            if plan is None:
                break
            index = self._next_index
            self._next_index += 1
            if plan.prompt != planner.prompt:
                self.writer.write_later(planner.event(index, plan.prompt))
            chosen.append(self._first_attempt(index, plan, planner))
            expected += plan.n_samples
        return chosen

    def _first_attempt(self, index: int, plan: CallPlan, planner: CallPlanner) -> _Request:
        base = self.template
        if plan.prompt != planner.prompt or plan.n_samples != self.pool.samples_per_call:
            base = self.pool.request_for(plan)
        request = replace(base, seed=attempt_seed(self.pool.seed, self.step, index, 0))
        return _Request(index, plan, base, request, self._key(request))

    def _reask(self, item: _Request, reason: str) -> _Request:
        """The next re-ask of ``item``'s call, as :class:`~pgkd.fill.call.CallRunner` words it."""
        attempt = item.attempt + 1
        request = replace(
            item.base,
            user=item.base.user + REASK_NOTE.format(reason=reason),
            seed=attempt_seed(self.pool.seed, self.step, item.index, attempt),
        )
        return _Request(item.index, item.plan, item.base, request, self._key(request), attempt)

    def _key(self, request: TeacherRequest) -> str:
        settings = self.teacher.settings
        return request_key(settings.provider, settings.model, request)

    # -- one round --------------------------------------------------------------------------

    async def _round(
        self, items: list[_Request], tally: FillTally
    ) -> list[tuple[_Request, Answer]]:
        answers: list[tuple[_Request, Answer]] = []
        unanswered: list[_Request] = []
        for item in items:
            hit = self.pool.cache.get(item.key) if self.pool.cache is not None else None
            if hit is None:
                unanswered.append(item)
                continue
            self.usage.cached_calls += 1
            await self.writer.write(self._event(item, reply=hit, cached=True))
            answers.append((item, hit))
        jobs, fresh = await self._attach(unanswered)
        if fresh:
            job = await self._submit(fresh, tally)
            if job is not None:
                jobs.append(job)
        for found in await asyncio.gather(*(self._collect(job, tally) for job in jobs)):
            answers.extend(found)
        return answers

    async def _attach(self, items: list[_Request]) -> tuple[list[_Job], list[_Request]]:
        """Re-attach to the journaled jobs holding some of ``items``; the rest are fresh."""
        by_job: dict[str, dict[str, _Request]] = {}
        fresh: list[_Request] = []
        for item in items:
            slot = self.mode.ledger.slot(item.key)
            if slot is None:
                fresh.append(item)
            else:
                by_job.setdefault(slot.job_id, {})[slot.custom_id] = item
        jobs: list[_Job] = []
        for job_id, members in by_job.items():
            try:
                status = await self._retrying(functools.partial(self.api.status, job_id))
            except TransientTeacherError:
                raise
            except TeacherError as exc:
                # Deleted, or from another account: its requests were never answered here.
                log.warning(
                    "%s: batch job %s cannot be read (%s); sending its requests again",
                    self.teacher.name,
                    job_id,
                    exc,
                )
                self.mode.ledger.settled(job_id, [item.key for item in members.values()])
                fresh.extend(members.values())
                continue
            log.info("%s: re-attached to %s", self.teacher.name, status.describe())
            self.usage.calls += len(members)
            jobs.append(_Job(status, members, dict.fromkeys(members, 0.0)))
        return jobs, fresh

    async def _submit(self, items: list[_Request], tally: FillTally) -> _Job | None:
        """Send ``items`` as one job, as far as the budget allows; journal its id."""
        reserved: dict[str, float] = {}
        members: dict[str, _Request] = {}
        for item in items:
            try:
                reservation = self.usage.reserve(self.usage.cost_of(*_estimate(item.request)))
            except BudgetExceeded as exc:
                tally.budget = tally.budget or exc
                break
            custom_id = item.custom_id(self.step)
            reserved[custom_id] = reservation
            members[custom_id] = item
        if not members:
            return None
        batch = [BatchItem(custom_id, item.request) for custom_id, item in members.items()]
        label = f"pgkd-s{self.step}-round{self.rounds}"
        try:
            status = await self._retrying(lambda: self.api.submit(batch, label=label))
        except BaseException:
            for reservation in reserved.values():
                self.usage.settle(reservation, 0, 0, ok=False)
            raise
        event = self._job_event(status, members)
        await self.writer.write(event)  # durable before anything waits on the job
        self.mode.ledger.record(event)
        log.info("%s: submitted %s", self.teacher.name, status.describe())
        return _Job(status, members, reserved)

    async def _collect(self, job: _Job, tally: FillTally) -> list[tuple[_Request, Answer]]:
        """Wait until ``job`` ended, then read, account, journal and cache its results."""
        status = job.status
        while not status.ended:
            self._show(tally, status.describe())
            await asyncio.sleep(self.mode.poll_seconds)
            status = await self._retrying(functools.partial(self.api.status, status.job_id))
        self._show(tally, status.describe())
        await self.writer.write(
            {
                "event": ENDED_EVENT,
                "step": self.step,
                "job_id": status.job_id,
                "state": status.state,
                "done": status.done,
                "total": status.total,
                "error": status.error,
            }
        )
        answers: dict[str, Answer] = {}
        if status.error is not None:
            failure = TeacherError(f"batch job {status.job_id} failed: {status.error}")
            answers = dict.fromkeys(job.members, failure)
        else:
            results = await self._retrying(functools.partial(self.api.results, status.job_id))
            for result in results:
                if result.custom_id in job.members:
                    answers[result.custom_id] = result.reply or result.error or _missing(status)
        out: list[tuple[_Request, Answer]] = []
        writes: list[Awaitable[None]] = []
        for custom_id, item in job.members.items():
            answer = answers.get(custom_id) or _missing(status)
            writes.append(self._account(item, answer, job.reserved[custom_id], status.job_id))
            out.append((item, answer))
        await asyncio.gather(*writes)
        self.mode.ledger.settled(status.job_id, [item.key for item in job.members.values()])
        return out

    async def _account(
        self, item: _Request, answer: Answer, reservation: float, job_id: str
    ) -> None:
        if isinstance(answer, TeacherReply):
            cost = self.usage.settle(
                reservation,
                answer.input_tokens,
                answer.output_tokens,
                ok=True,
                cache_read_tokens=answer.cache_read_tokens,
                cache_write_tokens=answer.cache_write_tokens,
            )
            event = self._event(item, reply=answer, job_id=job_id)
            event["cost_usd"] = cost
            settings = self.teacher.settings
            cached = (item.key, settings.provider, settings.model, answer)
            await self.writer.write(event, cached)
            return
        self.usage.settle(reservation, 0, 0, ok=False)
        await self.writer.write(self._event(item, error=str(answer), job_id=job_id))

    # -- what came back ---------------------------------------------------------------------

    def _settle(
        self,
        answers: Sequence[tuple[_Request, Answer]],
        planner: CallPlanner,
        tally: FillTally,
        max_abandoned: int,
    ) -> list[_Request]:
        """Take the usable answers into ``tally``; return the requests worth another round."""
        again: list[_Request] = []
        for item, answer in sorted(answers, key=lambda pair: pair[0].index):
            if tally.failure is not None:
                break
            if isinstance(answer, TeacherReply):
                outcome = self._parse(item, answer)
                if isinstance(outcome, CallOutcome):
                    tally.take(outcome)
                elif item.attempt < self.limits.max_reasks:
                    again.append(self._reask(item, str(outcome)))
                else:
                    self._abandon(item, outcome, planner, tally, max_abandoned)
            elif isinstance(answer, TransientTeacherError):
                if item.retry < self.limits.max_retries:
                    again.append(replace(item, retry=item.retry + 1))
                else:
                    self._abandon(item, answer, planner, tally, max_abandoned)
            else:
                tally.failure = self._failed(answer)
        return again

    def _parse(self, item: _Request, reply: TeacherReply) -> CallOutcome | MalformedAnswer:
        ident = call_id(self.step, item.index)
        try:
            records = parse_answer(reply.text)
        except MalformedAnswer as exc:
            return exc
        parsed, unparsable = to_candidates(records, self.pool.task, step=self.step, call_id=ident)
        if not parsed:
            return MalformedAnswer(f"no record fits the schema: {unparsable[0].parse_error}")
        return CallOutcome(item.index, parsed, unparsable)

    def _abandon(
        self,
        item: _Request,
        error: Exception,
        planner: CallPlanner,
        tally: FillTally,
        max_abandoned: int,
    ) -> None:
        tally.abandoned += 1
        log.warning("%s: a call gave up: %s", self.teacher.name, error)
        if tally.abandoned > max_abandoned:
            tally.failure = self._failed(
                TeacherError(
                    f"{tally.abandoned} calls gave up after retries/re-asks (last: {error}); "
                    "check the provider's batch status, or raise [teacher] max_retries / "
                    "max_reasks"
                )
            )
            return
        planner.replace(item.plan)

    def _failed(self, exc: TeacherError) -> Exception:
        hint = "; start the server or fix [teacher] base_url"
        text = f"teacher {self.teacher.name}: {exc}"
        failure = self.failure(text + hint if isinstance(exc, TeacherUnreachable) else text)
        failure.__cause__ = exc
        return failure

    # -- plumbing ---------------------------------------------------------------------------

    async def _retrying(self, action: Callable[[], Awaitable[T]]) -> T:
        return await with_retries(action, max_retries=self.limits.max_retries, wait=self._wait)

    def _show(self, tally: FillTally, state: str) -> None:
        self._state = state
        if self.mode.progress is not None:
            self.mode.progress(tally.accepted, tally.requested, state)

    def _job_event(self, status: BatchStatus, members: dict[str, _Request]) -> dict[str, Any]:
        settings = self.teacher.settings
        return {
            "event": JOB_EVENT,
            "step": self.step,
            "round": self.rounds,
            "job_id": status.job_id,
            "provider": settings.provider,
            "model": settings.model,
            "state": status.state,
            "submitted": round(time.time(), 3),
            "requests": [
                {
                    "custom_id": custom_id,
                    "call_id": call_id(self.step, item.index),
                    "attempt": item.attempt,
                    "retry": item.retry,
                    "seed": item.request.seed,
                    "key": item.key,
                }
                for custom_id, item in members.items()
            ],
        }

    def _event(
        self,
        item: _Request,
        *,
        reply: TeacherReply | None = None,
        error: str | None = None,
        cached: bool = False,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        """A ``teacher_call`` event, as online calls journal them, plus the job."""
        settings = self.teacher.settings
        event = teacher_call_event(
            step=self.step,
            call_id=call_id(self.step, item.index),
            attempt=item.attempt,
            retry=item.retry,
            provider=settings.provider,
            model=settings.model,
            request=item.request,
            reply=reply,
            error=error,
            cached=cached,
        )
        if job_id is not None:
            event["batch_job"] = job_id
            event["custom_id"] = item.custom_id(self.step)
        return event


def _estimate(request: TeacherRequest) -> tuple[int, int]:
    """(input, output) tokens to reserve for ``request``, as the online pool estimates a
    first call: the prompt and schema at four characters a token, and ``max_tokens``."""
    schema = len(orjson.dumps(request.schema)) if request.schema else 0
    return (len(request.system) + len(request.user) + schema) // 4 + 16, request.max_tokens


def _missing(status: BatchStatus) -> TeacherError:
    return TransientTeacherError(f"batch job {status.job_id} ({status.state}) has no result")


__all__ = ["BatchFill", "BatchMode", "BatchProgress", "require_batch_api", "with_retries"]
