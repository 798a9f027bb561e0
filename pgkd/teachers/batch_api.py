"""A provider's batch API as the engine sees it: submit many requests as one job, poll it,
read its results.

OpenAI (the Batch API) and Anthropic (Message Batches) answer a job's requests within a day at
half the online price. A teacher that offers such an API returns a :class:`BatchApi` from
:meth:`pgkd.teachers.base.Teacher.batch_api`; everything else (which requests go in a job, the
journal, the cache, re-asks, retries of failed requests, accounting) is the engine's
(:mod:`pgkd.fill.batch_fill`).

Every method raises what :meth:`~pgkd.teachers.base.Teacher.complete` raises: a
:class:`~pgkd.teachers.base.TransientTeacherError` for a failure worth retrying (429, 5xx,
timeouts) and a :class:`~pgkd.teachers.base.TeacherError` for a permanent one.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from pgkd.teachers.messages import TeacherError, TeacherReply, TeacherRequest, TransientTeacherError


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One request of a job; ``custom_id`` names it in the job's results (letters, digits,
    ``-`` and ``_``, at most 64 characters: what both providers accept)."""

    custom_id: str
    request: TeacherRequest


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """Where a job stands. ``state`` is the provider's own word for it (``validating``,
    ``in_progress``, ``ended``, ...); ``ended`` is true once it will change no more and its
    results can be read. ``done`` counts requests answered or failed so far, when the provider
    says. ``error`` is set when the job as a whole failed (its requests were never run)."""

    job_id: str
    state: str
    ended: bool
    done: int = 0
    total: int = 0
    error: str | None = None

    def describe(self) -> str:
        counts = f", {self.done}/{self.total} requests done" if self.total else ""
        return f"batch job {self.job_id}: {self.state}{counts}"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one request of a job: a ``reply``, or the ``error`` it met
    (:class:`TransientTeacherError` for one worth sending again: a server error, a rate limit,
    a request the job expired or was cancelled before it ran)."""

    custom_id: str
    reply: TeacherReply | None = None
    error: TeacherError | None = None


def expired(provider: str, custom_id: str) -> BatchResult:
    """The result of a request the provider never ran (the job expired or was cancelled)."""
    message = f"{provider}: the batch job ended before this request ran (expired or cancelled)"
    return BatchResult(custom_id, error=TransientTeacherError(message))


class BatchApi(abc.ABC):
    """A provider's batch endpoints (see the module docstring)."""

    @abc.abstractmethod
    async def submit(self, items: Sequence[BatchItem], *, label: str) -> BatchStatus:
        """Create one job holding ``items``; ``label`` names it where the provider keeps a
        description (OpenAI's metadata). Returns the new job's status, with its id."""

    @abc.abstractmethod
    async def status(self, job_id: str) -> BatchStatus:
        """The job's status now."""

    @abc.abstractmethod
    async def results(self, job_id: str) -> list[BatchResult]:
        """The results of an ended job, one per request that has one (a request missing
        from them was not run)."""
