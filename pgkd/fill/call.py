"""One teacher call of a fill: ask for k samples until a usable answer comes back.

Two retry layers, each the only owner of its errors:

- re-asks (outer): an answer that is not JSON, not a list / ``{"samples": [...]}``, empty, or
  without a single record that fits the task's schema
  (:class:`~pgkd.fill.answer.MalformedAnswer`) is asked again, with a new seed and a note
  saying what was wrong, at most ``max_reasks`` times;
- transport retries (inner): :class:`TransientTeacherError` (429, 5xx, timeouts, dropped
  connections) is retried with the same request after a :class:`~pgkd.fill.backoff.Backoff`
  wait that honours ``Retry-After``, at most ``max_retries`` times.

Every request sent is counted in :class:`~pgkd.fill.usage.Usage` (failed ones too) and
journaled before its reply is used; a usable reply is cached, and a cached reply is used
without sending anything.

Journal events (``"event": "teacher_call"``), one per request sent or reply taken from the
cache: ``step``, ``call_id`` (``s<step>c<index>``, also on the call's candidates), ``attempt``
(re-ask number), ``retry`` (transport retry number), ``provider``, ``model``, ``seed``,
``input_tokens``, ``output_tokens``, ``cache_read_tokens``, ``cache_write_tokens`` (the part
of the input read from / written to the provider's prompt cache), ``ok``, ``cached``, ``text``
(the raw answer, empty on failure), and ``error`` (one redacted line) or ``cost_usd`` and
``seconds``. Never a key or a header.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_none

from pgkd.fill.answer import MalformedAnswer, parse_answer, to_candidates
from pgkd.fill.backoff import Backoff, RetryWait
from pgkd.fill.cache import ResponseCache, request_key
from pgkd.fill.ratelimit import RateLimit
from pgkd.fill.slots import RequestSlots
from pgkd.fill.usage import Usage
from pgkd.fill.writer import ReplyWriter
from pgkd.teachers.base import (
    Teacher,
    TeacherError,
    TeacherReply,
    TeacherRequest,
    TransientTeacherError,
)
from pgkd.teachers.secrets import one_line
from pgkd.types import Candidate

log = logging.getLogger("pgkd.teachers")

REASK_NOTE = (
    "\n\nYour previous answer could not be used ({reason}). Reply with JSON only, exactly in "
    "the requested schema, and nothing else."
)


def attempt_seed(run_seed: int, step: int, index: int, attempt: int) -> int:
    """The seed of re-ask ``attempt`` of call ``index`` in ``step``: stable across processes,
    so a re-run sends identical requests and hits the cache."""
    digest = hashlib.blake2b(
        f"{run_seed}:{step}:{index}:{attempt}".encode(), digest_size=4
    ).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def call_id(step: int, index: int) -> str:
    """The id of call ``index`` of ``step`` in the journal and on its candidates."""
    return f"s{step}c{index}"


@dataclass(slots=True)
class CallOutcome:
    index: int
    parsed: list[Candidate]
    unparsable: list[Candidate]


@dataclass(slots=True)
class CallLimits:
    max_retries: int
    max_reasks: int
    call_timeout: float
    backoff: Backoff = field(default_factory=Backoff)


class CallRunner:
    """Runs the calls of one fill. At most ``concurrency`` requests are on the wire at once
    (``slots``); a call waiting out a backoff or ``Retry-After`` holds no slot, and sets
    ``wake`` so the pool can start another call meanwhile; retries and re-asks then go ahead
    of new calls. ``in_flight``, ``waiting``, ``retries``, ``reasks`` and ``cancelled`` count
    what happens in this fill."""

    def __init__(
        self,
        teacher: Teacher,
        *,
        task: Any,
        template: TeacherRequest,
        run_seed: int,
        step: int,
        limits: CallLimits,
        usage: Usage,
        writer: ReplyWriter,
        cache: ResponseCache | None,
        rate_limit: RateLimit | None,
        rng: random.Random,
        concurrency: int,
        on_change: Callable[[], None],
    ) -> None:
        self.teacher = teacher
        self.task = task
        self.template = template
        self.run_seed = run_seed
        self.step = step
        self.limits = limits
        self.usage = usage
        self.writer = writer
        self.cache = cache
        self.rate_limit = rate_limit
        self.on_change = on_change
        self.in_flight = self.waiting = self.retries = self.reasks = self.cancelled = 0
        self.slots = RequestSlots(concurrency)
        self.wake = asyncio.Event()
        self._wait = RetryWait(limits.backoff, rng, teacher.name)
        prompt_chars = len(template.system) + len(template.user)
        schema_chars = len(orjson.dumps(template.schema)) if template.schema else 0
        self._input_estimate = (prompt_chars + schema_chars) // 4 + 16
        self._output_estimate = template.max_tokens

    async def run(self, index: int, template: TeacherRequest | None = None) -> CallOutcome:
        """Call number ``index`` of the fill, sending ``template`` (the fill's own by default)
        with a per-attempt seed; raises :class:`MalformedAnswer` or
        :class:`TransientTeacherError` when its re-asks or retries ran out."""
        ident = call_id(self.step, index)
        base = template if template is not None else self.template
        reason: str | None = None
        reasking = AsyncRetrying(
            retry=retry_if_exception_type(MalformedAnswer),
            stop=stop_after_attempt(self.limits.max_reasks + 1),
            wait=wait_none(),
            reraise=True,
        )
        async for attempt in reasking:
            with attempt:
                number = attempt.retry_state.attempt_number - 1
                if number:
                    self.reasks += 1
                    self.usage.reasks += 1
                request = self._request(base, index, number, reason)
                reply = await self._reply(request, ident, number)
                try:
                    records = parse_answer(reply.text)
                except MalformedAnswer as exc:
                    reason = str(exc)
                    log.debug("%s attempt %d: malformed answer: %s", ident, number, reason)
                    raise
                parsed, unparsable = to_candidates(
                    records, self.task, step=self.step, call_id=ident
                )
                if not parsed:
                    # Re-asked like a malformed answer: otherwise a teacher that always misses
                    # the schema would be called forever.
                    reason = f"no record fits the schema: {unparsable[0].parse_error}"
                    raise MalformedAnswer(reason)
                return CallOutcome(index, parsed, unparsable)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _request(
        self, base: TeacherRequest, index: int, attempt: int, reason: str | None
    ) -> TeacherRequest:
        user = base.user
        if reason is not None:
            user += REASK_NOTE.format(reason=reason)
        seed = attempt_seed(self.run_seed, self.step, index, attempt)
        return replace(base, user=user, seed=seed)

    async def _reply(self, request: TeacherRequest, call_id: str, attempt: int) -> TeacherReply:
        key = None
        if self.cache is not None:
            key = request_key(self.teacher.settings.provider, self.teacher.settings.model, request)
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.cached_calls += 1
                event = self._event(call_id, attempt, 0, request, reply=hit, cached=True)
                await self.writer.write(event)
                return hit
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientTeacherError),
            stop=stop_after_attempt(self.limits.max_retries + 1),
            wait=self._wait,
            sleep=self._wait_without_slot,
            reraise=True,
        )
        async for transport in retrying:
            with transport:
                retry = transport.retry_state.attempt_number - 1
                if retry:
                    self.retries += 1
                    self.usage.retries += 1
                return await self._send(request, call_id, attempt, retry, key)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _wait_without_slot(self, seconds: float) -> None:
        self.waiting += 1
        self.wake.set()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.waiting -= 1

    async def _send(
        self, request: TeacherRequest, call_id: str, attempt: int, retry: int, key: str | None
    ) -> TeacherReply:
        est_in, est_out = self._input_estimate, self._output_estimate
        failure: tuple[TeacherError, Exception] | None = None
        await self.slots.acquire(retry=retry > 0 or attempt > 0)
        try:
            if self.rate_limit is not None:
                await self.rate_limit.acquire(est_in + est_out)
            reservation = self.usage.reserve(self.usage.cost_of(est_in, est_out))
            self.in_flight += 1
            self.on_change()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.limits.call_timeout):
                    reply = await self.teacher.complete(request)
            except asyncio.CancelledError:
                self._failed(reservation, est_in + est_out, None)
                self.cancelled += 1
                event = self._event(call_id, attempt, retry, request, error="cancelled: fill ended")
                self.writer.write_later(event)
                raise
            except Exception as exc:
                failure = (self._as_teacher_error(exc), exc)
                self._failed(reservation, est_in + est_out, failure[0])
            finally:
                self.in_flight -= 1
        finally:
            self.slots.release()
        if failure is not None:
            await self._record_failure(failure[0], call_id, attempt, retry, request)
            error, cause = failure
            if error is cause:
                raise error
            raise error from cause
        cost = self.usage.settle(
            reservation,
            reply.input_tokens,
            reply.output_tokens,
            ok=True,
            cache_read_tokens=reply.cache_read_tokens,
            cache_write_tokens=reply.cache_write_tokens,
        )
        if self.rate_limit is not None:
            self.rate_limit.settle(est_in + est_out, reply.input_tokens + reply.output_tokens)
        self._learn(reply)
        event = self._event(call_id, attempt, retry, request, reply=reply)
        event.update(cost_usd=cost, seconds=round(time.perf_counter() - started, 4))
        item = (key, *self._provider_model(), reply) if key is not None else None
        await self.writer.write(event, item)
        self.on_change()
        return reply

    async def _record_failure(
        self, error: TeacherError, call_id: str, attempt: int, retry: int, request: TeacherRequest
    ) -> None:
        log.debug("%s attempt %d try %d: %s", call_id, attempt, retry, error)
        event = self._event(call_id, attempt, retry, request, error=str(error))
        event["input_tokens"] = getattr(error, "input_tokens", 0)
        event["output_tokens"] = getattr(error, "output_tokens", 0)
        await self.writer.write(event)

    def _as_teacher_error(self, exc: Exception) -> TeacherError:
        if isinstance(exc, TeacherError):
            return exc
        if isinstance(exc, TimeoutError):
            limit = self.limits.call_timeout
            return TransientTeacherError(f"{self.teacher.name}: no reply within {limit:g} s")
        return TeacherError(f"{self.teacher.name}: {type(exc).__name__}: {one_line(str(exc), 200)}")

    def _failed(self, reservation: float, est_tokens: int, error: TeacherError | None) -> None:
        tokens_in = getattr(error, "input_tokens", 0)
        tokens_out = getattr(error, "output_tokens", 0)
        self.usage.settle(reservation, tokens_in, tokens_out, ok=False)
        if self.rate_limit is not None:
            self.rate_limit.settle(est_tokens, tokens_in + tokens_out)
        self.on_change()

    def _learn(self, reply: TeacherReply) -> None:
        """Sharpen the budget/rate estimates with what a real reply cost."""
        if reply.input_tokens:
            self._input_estimate = reply.input_tokens
        if reply.output_tokens:
            seen = math.ceil(reply.output_tokens * 1.25)
            cap = self.template.max_tokens
            previous = self._output_estimate if self._output_estimate < cap else 0
            self._output_estimate = min(cap, max(previous, seen))

    def _provider_model(self) -> tuple[str, str]:
        return self.teacher.settings.provider, self.teacher.settings.model

    def _event(
        self,
        call_id: str,
        attempt: int,
        retry: int,
        request: TeacherRequest,
        *,
        reply: TeacherReply | None = None,
        error: str | None = None,
        cached: bool = False,
    ) -> dict[str, Any]:
        provider, model = self._provider_model()
        event: dict[str, Any] = {
            "event": "teacher_call",
            "step": self.step,
            "call_id": call_id,
            "attempt": attempt,
            "retry": retry,
            "provider": provider,
            "model": model,
            "seed": request.seed,
            "input_tokens": reply.input_tokens if reply else 0,
            "output_tokens": reply.output_tokens if reply else 0,
            "cache_read_tokens": reply.cache_read_tokens if reply else 0,
            "cache_write_tokens": reply.cache_write_tokens if reply else 0,
            "ok": error is None,
            "cached": cached,
            "text": reply.text if reply else "",
        }
        if error is not None:
            event["error"] = one_line(error)
        return event
