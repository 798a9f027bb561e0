"""One teacher call of a fill: ask for k samples until a usable answer comes back.

Two retry layers, each the only owner of its errors:

- re-asks (outer): an answer that is not JSON, not a list / ``{"samples": [...]}``, empty, or
  without a single record that fits the task's schema
  (:class:`~pgkd.fill.answer.MalformedAnswer`) is asked again, with a new seed and a note
  saying what was wrong, at most ``max_reasks`` times;
- transport retries (inner): :class:`~pgkd.teachers.base.TransientTeacherError` (429, 5xx,
  timeouts, dropped connections) is retried with the same request, by
  :class:`~pgkd.fill.sender.RequestSender` (backoff honouring ``Retry-After``, accounting,
  cache, journal), at most ``max_retries`` times.

Journal events (``"event": "teacher_call"``), one per request sent or reply taken from the
cache: ``step``, ``call_id`` (``s<step>c<index>``, also on the call's candidates), ``attempt``
(re-ask number), ``retry`` (transport retry number), ``provider``, ``model``, ``seed``,
``input_tokens``, ``output_tokens``, ``cache_read_tokens``, ``cache_write_tokens`` (the part
of the input read from / written to the provider's prompt cache), ``ok``, ``cached``, ``text``
(the raw answer, empty on failure), and ``error`` (one redacted line) or ``cost_usd`` and
``seconds``. Never a key or a header.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_none

from pgkd.fill.answer import MalformedAnswer, parse_answer, to_candidates
from pgkd.fill.cache import ResponseCache
from pgkd.fill.ratelimit import RateLimit
from pgkd.fill.sender import CallLimits, RequestSender
from pgkd.fill.usage import Usage
from pgkd.fill.writer import ReplyWriter
from pgkd.teachers.base import Teacher, TeacherRequest
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


class CallRunner(RequestSender):
    """Runs the calls of one fill: each call is re-asked on a malformed answer and sends each
    attempt through the transport policy of :class:`~pgkd.fill.sender.RequestSender` (at most
    ``concurrency`` requests on the wire; a call waiting out a backoff holds no slot and sets
    ``wake`` so the pool can start another call meanwhile; retries and re-asks then go ahead
    of new calls). ``reasks`` counts this fill's re-asks."""

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
        super().__init__(
            teacher,
            template=template,
            step=step,
            limits=limits,
            usage=usage,
            writer=writer,
            cache=cache,
            rate_limit=rate_limit,
            rng=rng,
            concurrency=concurrency,
            on_change=on_change,
        )
        self.task = task
        self.run_seed = run_seed
        self.reasks = 0

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
                reply = await self.reply(request, ident, number)
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
