"""How long to wait before a transport retry: exponential backoff with jitter, never shorter
than the server's ``Retry-After``.

The n-th retry (n = 1, 2, ...) waits ``b/2 + uniform(0, b/2)`` with
``b = min(maximum, initial * multiplier ** (n - 1))`` ("equal jitter": spread out, yet never
close to zero), or the server's ``Retry-After`` when that is longer. A ``Retry-After`` above
``max_retry_after`` is not waited out: the call fails at once (a server that asks for minutes
is down, and the run should say so). Tests shorten every wait except ``Retry-After`` by passing
a small ``initial``/``maximum``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tenacity import RetryCallState

from pgkd.teachers.base import TeacherError, TransientTeacherError


@dataclass(frozen=True, slots=True)
class Backoff:
    """Defaults: the first retry after 50-100 ms (a lone 5xx is usually a blip, and at high
    concurrency one slow retry sets the batch's wall time), then x3 per retry, so five retries
    still span ~9 s of waiting, enough to ride out a short outage."""

    initial: float = 0.1
    multiplier: float = 3.0
    maximum: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based); None when the server's
        ``Retry-After`` is beyond ``max_retry_after``."""
        cap = min(self.maximum, self.initial * self.multiplier ** max(0, retry - 1))
        wait = cap / 2 + rng.uniform(0, cap / 2)
        if retry_after is None:
            return wait
        if retry_after > self.max_retry_after:
            return None
        return max(wait, retry_after)


class RetryWait:
    """A tenacity ``wait`` that applies :class:`Backoff` to the last transient error."""

    def __init__(self, backoff: Backoff, rng: random.Random, teacher: str) -> None:
        self.backoff = backoff
        self.rng = rng
        self.teacher = teacher

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = exc.retry_after if isinstance(exc, TransientTeacherError) else None
        wait = self.backoff.delay(state.attempt_number, hint, self.rng)
        if wait is None:
            raise TeacherError(
                f"{self.teacher}: the server asked to wait {hint:.0f} s, more than "
                f"max_retry_after={self.backoff.max_retry_after:.0f} s; try again later"
            )
        return wait
