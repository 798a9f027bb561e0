"""The batch endpoints of the loopback server (:mod:`tests.teachers.loopback`).

OpenAI's Batch API (``base_url = url + "/v1"``): ``POST /v1/files`` (multipart upload of the
JSONL input), ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/files/{id}/content``
(the output and error files). Anthropic's Message Batches (``base_url = url``):
``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}`` and its ``results_url``,
``GET /v1/messages/batches/{id}/results`` (JSONL).

A job stays in progress for ``owner.batch_polls`` reads of its status and ends at the next one
(the attribute is read at every poll, so a test can hold jobs pending and release them later).
When it ends its requests are answered like online requests, each logged as a ``Served`` with
``batch`` set to the job id, with a fault per request taken from ``owner.batch_script`` while
it lasts, then drawn with ``owner.batch_rates``: any answering fault of the online server
(``ok``, ``malformed``, ``wrong_label``, ...), ``500`` / ``429`` / ``503`` (the request errored,
worth a retry), ``400`` (errored for good) or ``expired`` (never run). A job's own outcome comes
from ``owner.job_script`` (then ``ok``): ``expire`` (the window ran out: the first half of its
requests ran, the rest expired) or ``fail`` (OpenAI: the input file failed validation; nothing
ran).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

TRANSIENT = {"500": ("api_error", 500), "429": ("rate_limit_error", 429)}
TRANSIENT |= {"503": ("overloaded_error", 503)}
CREATED = "2026-11-29T00:00:00Z"
EXPIRES = "2026-11-30T00:00:00Z"


class Owner(Protocol):
    """What the endpoints need from the server."""

    url: str
    batch_polls: int

    def next_batch_fault(self) -> str: ...

    def next_job_outcome(self) -> str: ...

    def answer_batch_item(
        self, protocol: str, body: Any, fault: str, job_id: str
    ) -> dict[str, Any]: ...


@dataclass
class BatchJob:
    id: str
    protocol: str
    #: (custom_id, request body) in submission order.
    requests: list[tuple[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)
    input_file_id: str = ""
    outcome: str = "ok"
    polls: int = 0
    ended: bool = False
    #: One result line per request that has one, once ended.
    results: list[dict[str, Any]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def custom_ids(self) -> list[str]:
        return [custom_id for custom_id, _ in self.requests]


class BatchEndpoints:
    def __init__(self, owner: Owner) -> None:
        self.owner = owner
        self.jobs: list[BatchJob] = []
        self.files: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # --- what the tests read ---------------------------------------------------------------

    def created(self, prefix: str = "") -> list[BatchJob]:
        """Jobs created so far, those holding a request whose custom_id starts with ``prefix``
        (``"s2c"``: the jobs of KD step 2)."""
        with self._lock:
            return [j for j in self.jobs if any(c.startswith(prefix) for c in j.custom_ids)]

    # --- routing -----------------------------------------------------------------------------

    def handles(self, path: str) -> bool:
        return path.startswith(("/v1/files", "/v1/batches", "/v1/messages/batches"))

    def handle(self, method: str, path: str, content_type: str, raw: bytes) -> tuple[int, Any, str]:
        """(status, payload, content type): a dict is sent as JSON, bytes as they are."""
        path = path.split("?", 1)[0]
        if method == "POST" and path == "/v1/files":
            return self._upload(content_type, raw)
        if method == "POST" and path == "/v1/batches":
            return self._create_openai(json.loads(raw))
        if method == "POST" and path == "/v1/messages/batches":
            return self._create_anthropic(json.loads(raw))
        found = re.fullmatch(r"/v1/files/([\w-]+)/content", path)
        if method == "GET" and found:
            data = self.files.get(found[1])
            if data is None:
                return _not_found("openai", f"no file {found[1]}")
            return 200, data, "application/octet-stream"
        found = re.fullmatch(r"/v1/(messages/)?batches/([\w-]+)(/results)?", path)
        if method == "GET" and found:
            protocol = "anthropic" if found[1] else "openai"
            job = self._job(found[2], protocol)
            if job is None:
                return _not_found(protocol, f"no batch {found[2]}")
            if found[3]:
                return self._anthropic_results(job)
            self._poll(job)
            view = self._openai_view(job) if protocol == "openai" else self._anthropic_view(job)
            return 200, view, "application/json"
        return _not_found("openai", f"no route {method} {path}")

    # --- OpenAI ------------------------------------------------------------------------------

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, Any, str]:
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        fields: dict[str, bytes] = {}
        filename = "upload.jsonl"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[str(name)] = payload if isinstance(payload, bytes) else b""
            filename = str(part.get_filename() or filename)
        with self._lock:
            file_id = f"file-{len(self.files)}"
            self.files[file_id] = fields.get("file", b"")
        body = {
            "id": file_id,
            "object": "file",
            "bytes": len(fields.get("file", b"")),
            "created_at": 0,
            "filename": filename,
            "purpose": fields.get("purpose", b"").decode(),
            "status": "processed",
        }
        return 200, body, "application/json"

    def _create_openai(self, body: dict[str, Any]) -> tuple[int, Any, str]:
        data = self.files.get(str(body.get("input_file_id")))
        if data is None:
            return _not_found("openai", f"no file {body.get('input_file_id')}")
        lines = [json.loads(line) for line in data.splitlines() if line.strip()]
        requests = [(str(line["custom_id"]), line["body"]) for line in lines]
        job = self._add("openai", requests, str(body.get("input_file_id")))
        job.metadata = dict(body.get("metadata") or {})
        return 200, self._openai_view(job), "application/json"

    def _openai_view(self, job: BatchJob) -> dict[str, Any]:
        state = "validating" if job.polls == 0 else "in_progress"
        errors = None
        if job.ended:
            state = {"ok": "completed", "expire": "expired", "fail": "failed"}[job.outcome]
        if job.ended and job.outcome == "fail":
            invalid = {"code": "invalid_request", "message": "injected: bad input file", "line": 1}
            errors = {"object": "list", "data": [invalid]}
        counts = job.counts
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": errors,
            "input_file_id": job.input_file_id,
            "completion_window": "24h",
            "status": state,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "created_at": 0,
            "metadata": job.metadata,
            "request_counts": {
                "total": len(job.requests),
                "completed": counts.get("succeeded", 0),
                "failed": counts.get("errored", 0) + counts.get("expired", 0),
            },
        }

    # --- Anthropic ---------------------------------------------------------------------------

    def _create_anthropic(self, body: dict[str, Any]) -> tuple[int, Any, str]:
        requests = [(str(r["custom_id"]), r["params"]) for r in body.get("requests") or []]
        job = self._add("anthropic", requests, "")
        return 200, self._anthropic_view(job), "application/json"

    def _anthropic_view(self, job: BatchJob) -> dict[str, Any]:
        counts = job.counts
        processing = 0 if job.ended else len(job.requests)
        return {
            "id": job.id,
            "type": "message_batch",
            "processing_status": "ended" if job.ended else "in_progress",
            "request_counts": {
                "processing": processing,
                "succeeded": counts.get("succeeded", 0),
                "errored": counts.get("errored", 0),
                "canceled": 0,
                "expired": counts.get("expired", 0),
            },
            "created_at": CREATED,
            "expires_at": EXPIRES,
            "ended_at": CREATED if job.ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": (
                f"{self.owner.url}/v1/messages/batches/{job.id}/results" if job.ended else None
            ),
        }

    def _anthropic_results(self, job: BatchJob) -> tuple[int, Any, str]:
        if not job.ended:
            return 400, _error("anthropic", "batch has not ended"), "application/json"
        data = "".join(json.dumps(line) + "\n" for line in job.results).encode()
        return 200, data, "application/binary"

    # --- jobs --------------------------------------------------------------------------------

    def _add(self, protocol: str, requests: list[tuple[str, Any]], file_id: str) -> BatchJob:
        outcome = self.owner.next_job_outcome()
        with self._lock:
            prefix = "batch" if protocol == "openai" else "msgbatch"
            job = BatchJob(f"{prefix}_{len(self.jobs)}", protocol, requests, input_file_id=file_id)
            job.outcome = outcome
            self.jobs.append(job)
        return job

    def _job(self, job_id: str, protocol: str) -> BatchJob | None:
        with self._lock:
            return next((j for j in self.jobs if j.id == job_id and j.protocol == protocol), None)

    def _poll(self, job: BatchJob) -> None:
        with self._lock:
            job.polls += 1
            if job.ended or job.polls <= self.owner.batch_polls:
                return
            job.ended = True
        self._run(job)

    def _run(self, job: BatchJob) -> None:
        """Answer the requests of an ending job (outside the lock: answering logs Served)."""
        if job.outcome == "fail":
            return
        ran = len(job.requests) if job.outcome == "ok" else len(job.requests) // 2
        counts = {"succeeded": 0, "errored": 0, "expired": 0}
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for position, (custom_id, body) in enumerate(job.requests):
            fault = self.owner.next_batch_fault() if position < ran else "expired"
            if fault == "expired":
                counts["expired"] += 1
                line = _expired(job.protocol, custom_id, position)
                (errors if job.protocol == "openai" else outputs).append(line)
                continue
            if fault in TRANSIENT or fault == "400":
                counts["errored"] += 1
                line = _errored(job.protocol, custom_id, position, fault)
                (errors if job.protocol == "openai" else outputs).append(line)
                continue
            counts["succeeded"] += 1
            answer = self.owner.answer_batch_item(job.protocol, body, fault, job.id)
            outputs.append(_succeeded(job.protocol, custom_id, position, answer))
        with self._lock:
            job.counts = counts
            job.results = outputs + errors
            if job.protocol == "openai":
                job.output_file_id = self._file(outputs, f"{job.id}-output")
                job.error_file_id = self._file(errors, f"{job.id}-errors")

    def _file(self, lines: list[dict[str, Any]], file_id: str) -> str | None:
        if not lines:
            return None
        self.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        return file_id


def _succeeded(protocol: str, custom_id: str, position: int, answer: Any) -> dict[str, Any]:
    if protocol == "openai":
        response = {"status_code": 200, "request_id": f"req_{position}", "body": answer}
        return {"id": f"batch_req_{position}", "custom_id": custom_id, "response": response}
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": answer}}


def _errored(protocol: str, custom_id: str, position: int, fault: str) -> dict[str, Any]:
    kind, status = TRANSIENT.get(fault, ("invalid_request_error", 400))
    if protocol == "openai":
        body = {"error": {"message": f"injected {fault}", "type": kind, "code": str(status)}}
        response = {"status_code": status, "request_id": f"req_{position}", "body": body}
        return {"id": f"batch_req_{position}", "custom_id": custom_id, "response": response}
    error = {"type": "error", "error": {"type": kind, "message": f"injected {fault}"}}
    return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}


def _expired(protocol: str, custom_id: str, position: int) -> dict[str, Any]:
    if protocol == "openai":
        error = {"code": "batch_expired", "message": "not run before the window closed"}
        return {
            "id": f"batch_req_{position}",
            "custom_id": custom_id,
            "response": None,
            "error": error,
        }
    return {"custom_id": custom_id, "result": {"type": "expired"}}


def _error(protocol: str, message: str) -> dict[str, Any]:
    if protocol == "openai":
        return {"error": {"message": message, "type": "invalid_request_error"}}
    return {"type": "error", "error": {"type": "not_found_error", "message": message}}


def _not_found(protocol: str, message: str) -> tuple[int, Any, str]:
    return 404, _error(protocol, message), "application/json"
