"""OpenAI's Batch API for ``openai:`` teachers: one JSONL file of chat completion requests,
uploaded (``files.create``, purpose ``batch``), run as one job (``batches.create``, 24-hour
window, billed at half the online price), polled (``batches.retrieve``), and read back from
its output and error files (``files.content``).

Each line of the input file is a request body exactly as the online teacher would post it
(:meth:`~pgkd.teachers.openai_teacher.OpenAITeacher.payload`). The output file holds the
answered requests as chat completion bodies (read like an online reply); the error file the
requests that failed (their HTTP status decides whether a retry is worth it) or that the job
never ran before it expired (``batch_expired``: worth sending again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai
import orjson

from pgkd.teachers.base import TeacherError
from pgkd.teachers.batch_api import BatchApi, BatchItem, BatchResult, BatchStatus, expired
from pgkd.teachers.failures import http_failure, sdk_failure
from pgkd.teachers.sdk_teacher import SdkTeacher
from pgkd.teachers.secrets import one_line

ENDPOINT = "/v1/chat/completions"
#: Job states after which nothing changes.
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


class OpenAIBatches(BatchApi):
    def __init__(self, teacher: SdkTeacher) -> None:
        """``teacher`` builds each request's body (``payload``), reads a reply and owns the
        SDK client: the OpenAI teacher, or another on the same protocol."""
        self.teacher = teacher

    async def submit(self, items: Sequence[BatchItem], *, label: str) -> BatchStatus:
        lines = b"".join(
            orjson.dumps(
                {
                    "custom_id": item.custom_id,
                    "method": "POST",
                    "url": ENDPOINT,
                    "body": self.teacher.payload(item.request),
                }
            )
            + b"\n"
            for item in items
        )

        async def create(client: Any) -> Any:
            upload = await client.files.create(
                file=(f"{label}.jsonl", lines, "application/jsonl"), purpose="batch"
            )
            return await client.batches.create(
                input_file_id=upload.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"pgkd": label},
            )

        return _status(await self._call(create))

    async def status(self, job_id: str) -> BatchStatus:
        return _status(await self._call(lambda client: client.batches.retrieve(job_id)))

    async def results(self, job_id: str) -> list[BatchResult]:
        job = await self._call(lambda client: client.batches.retrieve(job_id))
        found: dict[str, BatchResult] = {}
        for file_id in (job.output_file_id, job.error_file_id):
            if not file_id:
                continue
            content = await self._call(lambda client, f=file_id: client.files.content(f))
            for line in content.content.splitlines():
                if line.strip():
                    result = self._result(orjson.loads(line))
                    found[result.custom_id] = result
        return list(found.values())

    def _result(self, line: dict[str, Any]) -> BatchResult:
        custom_id = str(line.get("custom_id") or "")
        response = line.get("response") or {}
        error = line.get("error") or {}
        status = int(response.get("status_code") or 0)
        if status == 200:
            reply = self.teacher.read_reply(orjson.dumps(response["body"]))
            return BatchResult(custom_id, reply=reply)
        if status:
            body = response.get("body") or {}
            message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
            failure = http_failure("openai", status, str(message or body), None)
            return BatchResult(custom_id, error=failure)
        if error.get("code") == "batch_expired":
            return expired("openai", custom_id)
        message = one_line(str(error.get("message") or error or "no response"), 200)
        failed = TeacherError(f"openai: batch request failed: {message}")
        return BatchResult(custom_id, error=failed)

    async def _call(self, action: Any) -> Any:
        client = self.teacher._sdk()
        try:
            return await action(client)
        except openai.OpenAIError as exc:
            raise sdk_failure("openai", exc, openai, str(client.base_url)) from exc


def _status(job: Any) -> BatchStatus:
    counts = job.request_counts
    done = (counts.completed + counts.failed) if counts is not None else 0
    total = counts.total if counts is not None else 0
    error = None
    if job.status == "failed":
        errors = [e.message or e.code or "" for e in ((job.errors and job.errors.data) or [])]
        error = one_line("; ".join(e for e in errors if e) or "the provider gave no reason", 300)
    return BatchStatus(
        job_id=job.id,
        state=job.status,
        ended=job.status in ENDED,
        done=done,
        total=total,
        error=error,
    )
