"""Sending one request to a teacher with the engine's transport policy.

:class:`RequestSender` is the one owner of transport retries: a
:class:`~pgkd.teachers.base.TransientTeacherError` (429, 5xx, timeouts, dropped connections,
a server that cannot be reached) is retried with the same request after a
:class:`~pgkd.fill.backoff.Backoff` wait that honours ``Retry-After``, at most ``max_retries``
times. At most ``concurrency`` requests are on the wire at once (:class:`RequestSlots`); a
request waiting out a backoff holds no slot, and retries go ahead of new requests. Every request
sent is counted in :class:`~pgkd.fill.usage.Usage` (failed ones too, budget checked before
sending) and journaled before its reply is used; a usable reply is cached, and a cached reply is
used without sending anything.

The teacher pool's calls (:class:`~pgkd.fill.call.CallRunner`, which adds re-asks on malformed
answers) and ``pgkd compare``'s zero-shot questions (:mod:`pgkd.commands.zeroshot`) both go
through it, so both follow one retry policy.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

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

log = logging.getLogger("pgkd.teachers")


def teacher_call_event(
    *,
    step: int,
    call_id: str,
    attempt: int,
    retry: int,
    provider: str,
    model: str,
    request: TeacherRequest,
    reply: TeacherReply | None,
    error: str | None,
    cached: bool,
) -> dict[str, Any]:
    """The journal's ``teacher_call`` event of one attempt, online or in a batch job."""
    event: dict[str, Any] = {
        "event": "teacher_call",
        "step": step,
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


def backstop(teacher: Teacher) -> float:
    """The engine's own per-request time limit: providers enforce ``settings.timeout`` on the
    wire (where it covers the request alone, not a first call's client set-up); the engine only
    catches teachers that hang past it."""
    return teacher.settings.timeout * 1.25 + 5.0


@dataclass(slots=True)
class CallLimits:
    max_retries: int
    max_reasks: int
    call_timeout: float
    backoff: Backoff = field(default_factory=Backoff)


class RequestSender:
    """Sends requests to ``teacher`` under the transport policy (see the module docstring).
    ``template`` is a typical request, for the first budget and rate estimates. ``in_flight``,
    ``waiting``, ``retries`` and ``cancelled`` count what happens; ``wake`` is set whenever a
    request starts waiting out a backoff (its slot is free for another)."""

    def __init__(
        self,
        teacher: Teacher,
        *,
        template: TeacherRequest,
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
        self.template = template
        self.step = step
        self.limits = limits
        self.usage = usage
        self.writer = writer
        self.cache = cache
        self.rate_limit = rate_limit
        self.on_change = on_change
        self.in_flight = self.waiting = self.retries = self.cancelled = 0
        self.slots = RequestSlots(concurrency)
        self.wake = asyncio.Event()
        self._wait = RetryWait(limits.backoff, rng, teacher.name)
        prompt_chars = len(template.system) + len(template.user)
        schema_chars = len(orjson.dumps(template.schema)) if template.schema else 0
        self._input_estimate = (prompt_chars + schema_chars) // 4 + 16
        self._output_estimate = template.max_tokens

    async def reply(self, request: TeacherRequest, call_id: str, attempt: int = 0) -> TeacherReply:
        """The reply to ``request`` (from the cache, or sent with transport retries); raises
        :class:`TransientTeacherError` when the retries ran out, :class:`TeacherError` for a
        permanent failure. ``call_id`` and ``attempt`` name it in the journal."""
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
        return teacher_call_event(
            step=self.step,
            call_id=call_id,
            attempt=attempt,
            retry=retry,
            provider=provider,
            model=model,
            request=request,
            reply=reply,
            error=error,
            cached=cached,
        )
