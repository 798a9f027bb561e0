"""Client-side pacing of teacher requests: requests per minute and tokens per minute.

Two token buckets that refill continuously and hold one second's worth (providers enforce
per-minute limits in short windows, so a minute's burst up front would be refused). A request
needing more tokens than the bucket holds goes once the bucket is full and leaves a debt.
Token needs are estimated before a call and corrected by :meth:`RateLimit.settle` after it.
Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class _Bucket:
    def __init__(self, per_minute: float, clock: Callable[[], float]) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
        self._stamp = clock()

    def refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` (or a full bucket, if ``amount`` exceeds it) is there."""
        self.refill()
        target = min(amount, self.capacity)
        return max(0.0, (target - self.level) / self.rate)


class RateLimit:
    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._requests = _Bucket(requests_per_minute, clock) if requests_per_minute else None
        self._tokens = _Bucket(tokens_per_minute, clock) if tokens_per_minute else None
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of about ``tokens`` tokens may be sent, and take it."""
        async with self._lock:
            while True:
                wait = max(
                    self._requests.wait_for(1) if self._requests else 0.0,
                    self._tokens.wait_for(tokens) if self._tokens else 0.0,
                )
                if wait <= 0:
                    break
                await self._sleep(wait)
            if self._requests:
                self._requests.level -= 1
            if self._tokens:
                self._tokens.level -= tokens

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once a request's real token count is known."""
        if self._tokens:
            self._tokens.level -= actual - estimated
