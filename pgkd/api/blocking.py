"""Blocking calls that work whether or not an event loop runs in the calling thread.

``asyncio.run`` refuses to start inside a running loop, which is where a Jupyter cell or an
async web handler runs. There, the work goes to a worker thread with a loop of its own, and the
caller waits for it. Ctrl-C while waiting (a notebook's "interrupt") cancels the run's task on
that loop and waits for it to wind down (journal closed, teacher connections released), so
``pgkd resume`` can continue it; a second Ctrl-C stops waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` to its end and return its result: with ``asyncio.run``
    here, or on a fresh loop in a worker thread when a loop already runs in this thread."""
    if not in_running_loop():
        return asyncio.run(make())
    worker = LoopThread(make)
    try:
        worker.start()
        worker.join()
    except BaseException:
        worker.cancel()
        worker.join()
        raise
    return worker.outcome()


def call_function(work: Callable[[], T]) -> T:
    """``work()`` here, or in a worker thread when a loop runs in this thread (for work that
    starts its own loop)."""
    if not in_running_loop():
        return work()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgkd") as pool:
        return pool.submit(work).result()


class LoopThread(Generic[T]):
    """A thread that runs one coroutine on its own event loop and can cancel it."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._make = make
        self._thread = threading.Thread(target=self._main, name="pgkd-run", daemon=True)
        self._started = threading.Event()
        self._done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[T] | None = None
        self._result: T | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait for the coroutine's end. (Not ``Thread.join``: interrupted by Ctrl-C, it can
        mark a live thread as stopped, and a second join then returns at once.)"""
        if self._thread.ident is not None:
            self._done.wait()

    def cancel(self) -> None:
        """Cancel the coroutine (thread-safe); it unwinds through its ``finally`` blocks."""
        while not self._started.wait(0.1):
            if self._thread.ident is None:  # interrupted before the thread began
                return
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)

    def outcome(self) -> T:
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]

    def _main(self) -> None:
        async def main() -> T:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._started.set()
            return await self._make()

        try:
            self._result = asyncio.run(main())
        except BaseException as exc:  # handed to the waiting thread by outcome()
            self._error = exc
        finally:
            self._started.set()
            self._done.set()
