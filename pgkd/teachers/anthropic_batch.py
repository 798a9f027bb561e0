"""Anthropic's Message Batches for ``anthropic:`` teachers: one job of messages requests
(``messages.batches.create``, billed at half the online price, ended within 24 hours), polled
(``messages.batches.retrieve``) and read back as JSONL (``messages.batches.results``).

Each request's ``params`` are the body the online teacher would post
(:meth:`~pgkd.teachers.anthropic_teacher.AnthropicTeacher.payload`), its prompt marked for the
prompt cache when ``prompt_cache`` is on (all requests of a job share the prompt, and the
provider serves cache hits inside a batch as it can). A result is ``succeeded`` (a message,
read like an online reply), ``errored`` (its error type decides whether a retry is worth it),
``expired`` or ``canceled`` (never run: worth sending again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import anthropic
import orjson

from pgkd.teachers.base import TeacherError, TeacherReply, TeacherRequest, TransientTeacherError
from pgkd.teachers.batch_api import BatchApi, BatchItem, BatchResult, BatchStatus, expired
from pgkd.teachers.failures import sdk_failure
from pgkd.teachers.secrets import one_line


class CachingPayloads(Protocol):
    """What the batch client needs of the Anthropic teacher: its request bodies (with prompt
    caching when the teacher keeps a cache ledger), its reply reader and its SDK client."""

    @property
    def prompt_cache(self) -> object | None: ...

    def payload(self, request: TeacherRequest, *, cache: bool = False) -> dict[str, Any]: ...

    def read_reply(self, content: bytes) -> TeacherReply: ...

    def _sdk(self) -> Any: ...


#: Error types of an errored request that a new attempt may get past.
TRANSIENT_ERRORS = frozenset({"api_error", "overloaded_error", "rate_limit_error", "timeout_error"})


class AnthropicBatches(BatchApi):
    def __init__(self, teacher: CachingPayloads) -> None:
        self.teacher = teacher

    async def submit(self, items: Sequence[BatchItem], *, label: str) -> BatchStatus:
        cache = self.teacher.prompt_cache is not None
        requests = [
            {"custom_id": item.custom_id, "params": self.teacher.payload(item.request, cache=cache)}
            for item in items
        ]
        job = await self._call(lambda client: client.messages.batches.create(requests=requests))
        return _status(job)

    async def status(self, job_id: str) -> BatchStatus:
        return _status(await self._call(lambda client: client.messages.batches.retrieve(job_id)))

    async def results(self, job_id: str) -> list[BatchResult]:
        async def read(client: Any) -> list[BatchResult]:
            lines = await client.messages.batches.results(job_id)
            return [self._result(line) async for line in lines]

        found: list[BatchResult] = await self._call(read)
        return found

    def _result(self, line: Any) -> BatchResult:
        custom_id = str(line.custom_id)
        result = line.result
        kind = getattr(result, "type", "")
        if kind == "succeeded":
            body = orjson.dumps(result.message.to_dict(mode="json"))
            return BatchResult(custom_id, reply=self.teacher.read_reply(body))
        if kind in ("expired", "canceled"):
            return expired("anthropic", custom_id)
        error = getattr(getattr(result, "error", None), "error", None)
        error_type = str(getattr(error, "type", "") or "unknown")
        message = one_line(str(getattr(error, "message", "") or error_type), 200)
        text = f"anthropic: batch request {kind or 'failed'}: {error_type}: {message}"
        if error_type in TRANSIENT_ERRORS:
            return BatchResult(custom_id, error=TransientTeacherError(text))
        return BatchResult(custom_id, error=TeacherError(text))

    async def _call(self, action: Any) -> Any:
        client = self.teacher._sdk()
        try:
            return await action(client)
        except anthropic.AnthropicError as exc:
            raise sdk_failure("anthropic", exc, anthropic, str(client.base_url)) from exc


def _status(job: Any) -> BatchStatus:
    counts = job.request_counts
    total = counts.processing + counts.succeeded + counts.errored + counts.canceled
    total += counts.expired
    return BatchStatus(
        job_id=job.id,
        state=job.processing_status,
        ended=job.processing_status == "ended",
        done=total - counts.processing,
        total=total,
    )
