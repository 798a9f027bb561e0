"""Independent questions answered through a provider's batch API: ``pgkd compare``'s
zero-shot labels with ``[teacher] batch = true`` (or ``--batch``), at the batch price.

All questions go out as one job; the job is polled every ``poll_seconds`` until it ended and
its results are read. Questions that failed in a way worth retrying (a server error or rate
limit inside the job, or never run because the job expired) go out again in a new job, at most
``max_retries`` times each; a permanent error raises at once. Every request counts as a call in
``usage`` (budget-free: compare has no cap), priced as its usage prices it. Nothing is
journaled: a compare that is stopped submits its questions again when run again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Sequence

from pgkd.fill.backoff import Backoff, RetryWait
from pgkd.fill.batch_fill import with_retries
from pgkd.fill.usage import Usage
from pgkd.teachers.base import TeacherError, TeacherReply, TeacherRequest, TransientTeacherError
from pgkd.teachers.batch_api import BatchApi, BatchItem

log = logging.getLogger("pgkd.teachers")


async def answer_in_batches(
    api: BatchApi,
    requests: Sequence[TeacherRequest],
    *,
    usage: Usage,
    max_retries: int = 5,
    poll_seconds: float = 30.0,
    backoff: Backoff | None = None,
    label: str = "pgkd-compare",
    name: str = "teacher",
) -> list[TeacherReply]:
    """One reply per request, in order; raises :class:`TeacherError` for a permanent failure
    and :class:`TransientTeacherError` for a question that kept failing."""
    wait = RetryWait(backoff or Backoff(), random.Random(0), name)
    replies: dict[int, TeacherReply] = {}
    pending = list(range(len(requests)))
    last: TeacherError = TransientTeacherError(f"{name}: no batch job was run")
    for retry in range(max_retries + 1):
        items = [BatchItem(f"q{index}-r{retry}", requests[index]) for index in pending]
        by_id = {item.custom_id: index for item, index in zip(items, pending, strict=True)}
        if retry:
            usage.retries += len(items)
        submit = functools.partial(api.submit, items, label=label)
        status = await with_retries(submit, max_retries=max_retries, wait=wait)
        usage.calls += len(items)
        log.info("%s: submitted %s", name, status.describe())
        while not status.ended:
            await asyncio.sleep(poll_seconds)
            poll = functools.partial(api.status, status.job_id)
            status = await with_retries(poll, max_retries=max_retries, wait=wait)
        if status.error is not None:
            raise TeacherError(f"batch job {status.job_id} failed: {status.error}")
        read = functools.partial(api.results, status.job_id)
        found = await with_retries(read, max_retries=max_retries, wait=wait)
        results = {result.custom_id: result for result in found}
        failed: list[int] = []
        for custom_id, index in by_id.items():
            result = results.get(custom_id)
            reply = result.reply if result is not None else None
            if reply is not None:
                usage.settle(
                    0.0,
                    reply.input_tokens,
                    reply.output_tokens,
                    ok=True,
                    cache_read_tokens=reply.cache_read_tokens,
                    cache_write_tokens=reply.cache_write_tokens,
                )
                replies[index] = reply
                continue
            usage.settle(0.0, 0, 0, ok=False)
            error = result.error if result is not None else None
            if error is not None and not isinstance(error, TransientTeacherError):
                raise error
            last = error or TransientTeacherError(f"batch job {status.job_id}: no result")
            failed.append(index)
        pending = failed
        if not pending:
            return [replies[index] for index in range(len(requests))]
    raise last
