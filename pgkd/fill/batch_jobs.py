"""The batch jobs a run submitted, as its journal records them, so that none is paid twice.

A job's id is journaled (a ``batch_job`` event, fsynced) right after the provider accepted it
and before anything waits on it. The event lists the job's requests by ``custom_id`` with their
cache keys (:func:`pgkd.fill.cache.request_key`), their call, re-ask and retry numbers::

    {"event": "batch_job", "step": 2, "round": 1, "job_id": "batch_...", "provider": "openai",
     "model": "gpt-4o-mini", "requests": [{"custom_id": "s2c0-a0-r0", "call_id": "s2c0",
     "attempt": 0, "retry": 0, "seed": 123, "key": "9f2c..."}, ...]}

A resumed run re-runs its unfinished step and builds the very same requests (their seeds depend
on the run seed, the step, the call and the attempt only), so :class:`BatchLedger` finds the job
that already holds each one and the engine re-attaches to it instead of submitting again. Once
a job's results were read, its requests are forgotten: a request that failed there and is sent
again goes in a new job. A ``batch_job_ended`` event records how each job ended; the requests
of a job that failed as a whole (``error`` set: the provider ran none of them) are sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

JOB_EVENT = "batch_job"
ENDED_EVENT = "batch_job_ended"


@dataclass(frozen=True, slots=True)
class JobSlot:
    """Where a request was submitted: its job and its ``custom_id`` there."""

    job_id: str
    custom_id: str


class BatchLedger:
    """Which journaled job holds each request not yet answered, by request key."""

    def __init__(self) -> None:
        self._by_key: dict[str, JobSlot] = {}

    @classmethod
    def from_journal(cls, events: Iterable[Mapping[str, Any]]) -> BatchLedger:
        """The ledger of a run's journal (its events in order)."""
        ledger = cls()
        for event in events:
            if event.get("event") == JOB_EVENT:
                ledger.record(event)
            elif event.get("event") == ENDED_EVENT and event.get("error"):
                # The job failed as a whole (nothing ran): its requests need a new job.
                ledger.forget(str(event["job_id"]))
        return ledger

    def record(self, event: Mapping[str, Any]) -> None:
        """Take in a ``batch_job`` event: each of its requests is now in that job."""
        job_id = str(event["job_id"])
        for request in event.get("requests") or ():
            self._by_key[str(request["key"])] = JobSlot(job_id, str(request["custom_id"]))

    def slot(self, key: str) -> JobSlot | None:
        """The job holding the request with cache key ``key``, if one does."""
        return self._by_key.get(key)

    def settled(self, job_id: str, keys: Iterable[str]) -> None:
        """The results of these requests were read from ``job_id``: a new attempt of one
        needs a new job."""
        for key in keys:
            slot = self._by_key.get(key)
            if slot is not None and slot.job_id == job_id:
                del self._by_key[key]

    def forget(self, job_id: str) -> None:
        """Drop every request of ``job_id``."""
        for key in [key for key, slot in self._by_key.items() if slot.job_id == job_id]:
            del self._by_key[key]

    def __len__(self) -> int:
        return len(self._by_key)
