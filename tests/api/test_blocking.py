"""Blocking calls from inside a running event loop (a notebook cell, an async handler): they run
on a loop of their own in a worker thread; Ctrl-C while waiting cancels that run cleanly."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from pgkd.api.blocking import call_function, run_coroutine


async def answer(value: int) -> tuple[int, str]:
    await asyncio.sleep(0)
    return value, threading.current_thread().name


async def fail() -> None:
    await asyncio.sleep(0)
    raise ValueError("from the run")


def test_results_and_errors_come_back_with_or_without_a_running_loop() -> None:
    assert run_coroutine(lambda: answer(1)) == (1, threading.current_thread().name)

    async def cell() -> tuple[tuple[int, str], tuple[int, str]]:
        with pytest.raises(ValueError, match="from the run"):
            run_coroutine(fail)
        nested = call_function(lambda: asyncio.run(answer(3)))
        return run_coroutine(lambda: answer(2)), nested

    (value, thread), (nested, _) = asyncio.run(cell())
    assert (value, nested) == (2, 3) and thread == "pgkd-run"


def test_ctrl_c_while_waiting_cancels_the_run_and_waits_for_it_to_wind_down() -> None:
    started, wound_down = threading.Event(), threading.Event()

    async def endless() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # the run's own clean-up still gets to await
            wound_down.set()

    def interrupt() -> None:
        started.wait()
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    async def cell() -> None:
        threading.Thread(target=interrupt, daemon=True).start()
        run_coroutine(endless)

    # A kernel's loop, as in Jupyter: Ctrl-C raises KeyboardInterrupt in the running cell
    # (asyncio.run would instead turn it into a cancellation of its own main task).
    # A process started in the background inherits SIGINT ignored; a kernel raises on it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(cell())
    finally:
        loop.close()
        signal.signal(signal.SIGINT, previous)
    assert wound_down.is_set()
