"""The pool's request slots: at most ``n`` requests on the wire, retries served first.

A call that waited out a backoff or ``Retry-After`` gave its slot to a new call meanwhile; when
it comes back it goes ahead of new calls, because a fill ends when its slowest call ends and the
calls that already failed once are the slow ones. A freed slot is handed straight to the next
waiter (retries, then new calls, each in arrival order).
"""

from __future__ import annotations

import asyncio
from collections import deque


class RequestSlots:
    def __init__(self, size: int) -> None:
        self.free = size
        self._retries: deque[asyncio.Future[None]] = deque()
        self._fresh: deque[asyncio.Future[None]] = deque()

    async def acquire(self, *, retry: bool) -> None:
        if self.free > 0 and not self._retries and (retry or not self._fresh):
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._retries if retry else self._fresh
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._retries, self._fresh):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.free += 1
