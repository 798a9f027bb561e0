"""A real HTTP server on 127.0.0.1 that speaks three teacher wire protocols, with faults.

- OpenAI chat completions: ``POST /v1/chat/completions`` (``base_url = url + "/v1"``)
- Anthropic messages: ``POST /v1/messages`` (``base_url = url``)
- Bedrock Converse: ``POST /model/{modelId}/converse`` (``endpoint_url = url``)
- OpenAI's Batch API and Anthropic's Message Batches: see :mod:`tests.teachers.loopback_batches`
  (``batch_polls``, ``batch_script``, ``batch_rates``, ``job_script``; jobs in ``batches``)

Every answer holds as many samples as the request's schema asks for (``minItems``), with labels
from the schema's ``enum``, and texts unique across the server's life (``"loopback r<request>
s<j>"``), so a test can check that no sample was lost or duplicated. A request whose schema is one
object with a ``label`` enum (a zero-shot question) is answered ``{"label": <one of the enum>}``,
the enum's entries taken in turn by request index and logged as ``Served.label``. A request
whose schema is ``{"labels": [{"index", "label"}]}`` (a ``teacher_verification`` call) is
answered with one ``{"index": i, "label": ...}`` per text asked about (``minItems``), the
enum's entries taken in turn from the request index on.

Faults, per request: taken in order from ``script`` while it lasts, then drawn at random with
``rates`` (seeded), else ``"ok"``:

``ok`` | ``429`` (with ``retry-after-ms`` or ``Retry-After``) | ``500`` | ``503`` | ``401`` (its
message echoes the credential, as some servers do) | ``timeout`` (answers only after ``hang``
seconds) | ``drop`` (closes the connection without answering) | ``malformed`` (prose, no JSON)
| ``truncated`` (JSON cut in half) | ``wrong_label`` (labels outside the taxonomy) |
``bad_record`` (half the records lack a label) | ``no_labels`` (all do) | ``double`` (twice
the samples asked for) | ``slow`` (``slow`` seconds of extra latency).

``prompt_cache=True`` plays the providers' prompt caches: an Anthropic request whose user message
carries ``cache_control`` writes its prompt to the cache the first time (``usage``
``cache_creation_input_tokens``) and reads it afterwards (``cache_read_input_tokens``); an OpenAI
request whose prompt was answered before reports ``prompt_tokens_details.cached_tokens``. The
cached part is a quarter of the prompt's characters, as tokens (``Served.cache_read``,
``Served.cache_write``).

Each request is logged as a :class:`Served` with its arrival and answer times (``time.monotonic``
of the server's process), so tests check ``Retry-After`` spacing, concurrency and token counts
against the client's accounting. ``GET /_stats`` returns the log as JSON (for the benchmark,
which runs the server in another process: ``python loopback.py --latency 0.2``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.teachers.loopback_batches import BatchEndpoints

ANSWERING = {"ok", "malformed", "truncated", "wrong_label", "bad_record", "no_labels"}
ANSWERING |= {"double", "slow"}


@dataclass
class Served:
    index: int
    protocol: str
    fault: str
    status: int
    key: str
    arrived: float
    answered: float = 0.0
    retry_after: float | None = None
    texts: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    authorization: str = ""
    body: Any = field(default=None, repr=False)
    path: str = ""
    label: str = ""
    cache_read: int = 0
    cache_write: int = 0
    #: The batch job that ran this request ("" for an online request).
    batch: str = ""

    @property
    def delivered(self) -> bool:
        return self.status == 200 and self.fault != "timeout"


class LoopbackServer:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        script: Sequence[str] = (),
        rates: Mapping[str, float] | None = None,
        seed: int = 0,
        retry_after: float = 0.05,
        retry_after_header: str = "retry-after-ms",
        hang: float = 5.0,
        slow: float = 0.5,
        prompt_cache: bool = False,
        batch_polls: int = 2,
        batch_script: Sequence[str] = (),
        batch_rates: Mapping[str, float] | None = None,
        job_script: Sequence[str] = (),
    ) -> None:
        self.latency = latency
        self.script = list(script)
        self.rates = dict(rates or {})
        self.retry_after = retry_after
        self.retry_after_header = retry_after_header
        self.hang = hang
        self.slow = slow
        self.prompt_cache = prompt_cache
        self.cached_prompts: set[str] = set()
        self.served: list[Served] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._rng = random.Random(seed)
        #: Batch endpoints (see :mod:`tests.teachers.loopback_batches`): status reads a job
        #: stays in progress, faults per batched request, outcomes per job.
        self.batch_polls = batch_polls
        self.batch_script = list(batch_script)
        self.batch_rates = dict(batch_rates or {})
        self.job_script = list(job_script)
        self._batch_rng = random.Random(seed + 1)
        self.batches = BatchEndpoints(self)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what the tests read -------------------------------------------------------------

    def delivered_texts(self) -> list[str]:
        """Sample texts of every answer that reached the client and was usable JSON."""
        usable = {"ok", "wrong_label", "bad_record", "double", "slow"}
        return [t for s in self.served if s.delivered and s.fault in usable for t in s.texts]

    def totals(self) -> dict[str, Any]:
        delivered = [s for s in self.served if s.delivered]
        return {
            "requests": len(self.served),
            "errors": sum(not s.delivered for s in self.served),
            "input_tokens": sum(s.input_tokens for s in delivered),
            "output_tokens": sum(s.output_tokens for s in delivered),
            "faults": dict(Counter(s.fault for s in self.served)),
        }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            served = [{k: v for k, v in asdict(s).items() if k != "body"} for s in self.served]
        return {**self.totals(), "served": served, "max_in_flight": self.max_in_flight}

    # --- called by handler threads -------------------------------------------------------

    def _next_fault(self) -> str:
        with self._lock:
            if self.script:
                return self.script.pop(0)
            roll = self._rng.random()
            for fault, rate in self.rates.items():
                if roll < rate:
                    return fault
                roll -= rate
            return "ok"

    def next_batch_fault(self) -> str:
        with self._lock:
            if self.batch_script:
                return self.batch_script.pop(0)
            roll = self._batch_rng.random()
            for fault, rate in self.batch_rates.items():
                if roll < rate:
                    return fault
                roll -= rate
            return "ok"

    def next_job_outcome(self) -> str:
        with self._lock:
            return self.job_script.pop(0) if self.job_script else "ok"

    def answer_batch_item(
        self, protocol: str, body: Any, fault: str, job_id: str
    ) -> dict[str, Any]:
        """Answer one request of an ending job as its online endpoint would; logged as a
        Served whose tokens count the request body as the online server counts a POST."""
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        record = Served(
            index=-1,
            protocol=protocol,
            fault=fault,
            status=200,
            key=hashlib.sha256(raw).hexdigest()[:16],
            arrived=time.monotonic(),
            body=body,
            path=f"batch:{job_id}",
            batch=job_id,
        )
        self._enter(record)
        try:
            record.input_tokens = max(1, len(raw) // 4)
            self._use_prompt_cache(protocol, body, record)
            payload = _answer(protocol, body, record, fault)
            record.answered = time.monotonic()
        finally:
            self._leave()
        return payload

    def _enter(self, record: Served) -> None:
        with self._lock:
            record.index = len(self.served)
            self.served.append(record)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _use_prompt_cache(self, protocol: str, body: Any, record: Served) -> None:
        """Count the cached part of the prompt the way the provider's cache would."""
        if not self.prompt_cache or protocol == "bedrock":
            return
        prompt = _prompt(protocol, body)
        if prompt is None:
            return
        key = hashlib.sha256(prompt.encode()).hexdigest()
        cached = min(record.input_tokens - 1, len(prompt) // 4)
        with self._lock:
            seen = key in self.cached_prompts
            self.cached_prompts.add(key)
        if seen:
            record.cache_read = cached
        elif protocol == "anthropic":
            record.cache_write = cached

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out close their end; that is expected here, not an error."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.server.owner.batches.handles(self.path):
            self._batch("GET", b"")
        elif self.path == "/_stats":
            self._send(200, self.server.owner.stats(), {})
        else:
            self._send(404, {"message": "not found"}, {})

    def do_POST(self) -> None:
        owner = self.server.owner
        arrived = time.monotonic()
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if owner.batches.handles(self.path):
            self._batch("POST", raw)
            return
        protocol = _protocol(self.path)
        if protocol is None:
            self._send(404, {"message": f"no route {self.path}"}, {})
            return
        body = json.loads(raw or b"{}")
        record = Served(
            index=-1,
            protocol=protocol,
            fault=owner._next_fault(),
            status=200,
            key=hashlib.sha256(raw).hexdigest()[:16],
            arrived=arrived,
            authorization=" ".join(
                self.headers.get(name) or "" for name in ("x-api-key", "authorization")
            ).strip(),
            body=body,
            path=self.path,
        )
        owner._enter(record)
        try:
            self._answer(owner, protocol, body, raw, record)
        finally:
            owner._leave()

    def _answer(
        self, owner: LoopbackServer, protocol: str, body: Any, raw: bytes, record: Served
    ) -> None:
        fault = record.fault
        if fault == "drop":
            record.status = 0
            record.answered = time.monotonic()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault not in {"429", "401"}:
            owner._sleep(owner.latency + (owner.slow if fault == "slow" else 0.0))
        if fault == "timeout":
            owner._sleep(owner.hang)
        if fault in ANSWERING or fault == "timeout":
            record.input_tokens = max(1, len(raw) // 4)
            owner._use_prompt_cache(protocol, body, record)
            payload = _answer(protocol, body, record, fault)
            record.answered = time.monotonic()
            self._send(200, payload, {})
            return
        status = {"429": 429, "500": 500, "503": 503, "401": 401}[fault]
        record.status = status
        headers: dict[str, str] = {}
        if status == 429:
            record.retry_after = owner.retry_after
            if owner.retry_after_header == "retry-after-ms":
                headers["retry-after-ms"] = str(int(owner.retry_after * 1000))
            else:
                headers["Retry-After"] = str(int(owner.retry_after))
        message = f"injected {fault}"
        if status == 401:
            message = f"Incorrect API key provided: {record.authorization}"
        payload, extra = _error(protocol, status, message)
        record.answered = time.monotonic()
        self._send(status, payload, {**headers, **extra})

    def _batch(self, method: str, raw: bytes) -> None:
        endpoints = self.server.owner.batches
        content_type = self.headers.get("content-type") or ""
        status, payload, kind = endpoints.handle(method, self.path, content_type, raw)
        self._send(status, payload, {}, content_type=kind)

    def _send(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str],
        content_type: str = "application/json",
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        lines = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}"]
        lines += [f"content-type: {content_type}", f"content-length: {len(data)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        # Head and body in one write: two small writes meet Nagle + delayed ACK (40 ms stalls).
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)


def _protocol(path: str) -> str | None:
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/model/") and path.endswith("/converse"):
        return "bedrock"
    return None


def _schema(protocol: str, body: Any) -> Any:
    """The JSON schema a request asks its answer to follow, if any."""
    schema: Any = None
    if protocol == "openai":
        fmt = body.get("response_format") or {}
        schema = fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema")
    elif protocol == "anthropic":
        tools = body.get("tools") or []
        schema = tools[0]["input_schema"] if tools else None
        fmt = (body.get("output_config") or {}).get("format") or {}
        schema = schema or fmt.get("schema")
    else:
        tools = (body.get("toolConfig") or {}).get("tools") or []
        schema = tools[0]["toolSpec"]["inputSchema"]["json"] if tools else None
    return schema


def _prompt(protocol: str, body: Any) -> str | None:
    """The prompt of a request a provider would cache (Anthropic: only one marked for it)."""
    if protocol == "openai":
        messages = body.get("messages") or []
        return "\n".join(str(m.get("content")) for m in messages)
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content")
    if not isinstance(content, list) or "cache_control" not in content[-1]:
        return None
    system = body.get("system")
    system_text = system[0]["text"] if isinstance(system, list) else str(system or "")
    return system_text + "\n" + str(content[-1]["text"])


def _label_enum(schema: Any) -> list[str] | None:
    """The labels of a zero-shot schema ``{"label": <enum>}``; None for any other schema."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    properties = schema.get("properties") or {}
    enum = (properties.get("label") or {}).get("enum")
    return list(enum) if "samples" not in properties and enum else None


def _wanted(protocol: str, body: Any) -> tuple[int, list[str], bool]:
    """(samples asked for, labels, whether the schema's root is a list) of a request."""
    schema = _schema(protocol, body)
    if not isinstance(schema, dict):
        return 8, ["alpha", "beta"], False
    is_list = schema.get("type") == "array"
    items = schema if is_list else (schema.get("properties") or {}).get("samples") or {}
    count = int(items.get("minItems") or 8)
    label = ((items.get("items") or {}).get("properties") or {}).get("label") or {}
    return count, list(label.get("enum") or ["alpha", "beta"]), is_list


def _records(record: Served, count: int, labels: list[str], fault: str) -> list[dict[str, Any]]:
    if fault == "double":
        count *= 2
    out = []
    for j in range(count):
        text = f"loopback r{record.index} s{j}"
        label = f"not-a-label-{j}" if fault == "wrong_label" else labels[j % len(labels)]
        unlabelled = fault == "no_labels" or (fault == "bad_record" and j % 2)
        out.append({"text": text} if unlabelled else {"text": text, "label": label})
    record.texts = [r["text"] for r in out if "label" in r]
    return out


def _verdict_enum(schema: Any) -> tuple[int, list[str]] | None:
    """(texts asked about, labels) of a verification schema; None for any other schema."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    verdicts = (schema.get("properties") or {}).get("labels") or {}
    item = (verdicts.get("items") or {}).get("properties") or {}
    if "index" not in item:
        return None
    return int(verdicts.get("minItems") or 1), list((item.get("label") or {}).get("enum") or [])


def _answer(protocol: str, body: Any, record: Served, fault: str) -> dict[str, Any]:
    enum = _label_enum(_schema(protocol, body))
    verdicts = _verdict_enum(_schema(protocol, body))
    answer: Any
    if verdicts is not None:
        count, names = verdicts
        answer = {
            "labels": [
                {"index": i + 1, "label": names[(record.index + i) % len(names)]}
                for i in range(count)
            ]
        }
        as_json = json.dumps(answer)
    elif enum is not None:
        record.label = enum[record.index % len(enum)]
        answer = {"label": record.label}
        as_json = json.dumps(answer)
    else:
        count, labels, is_list = _wanted(protocol, body)
        records = _records(record, count, labels, fault)
        answer = {"samples": records}
        as_json = json.dumps(records if is_list else answer)
    text: str | None = None
    if fault == "malformed":
        text = "Sure! Here are some great samples for your classifier."
    elif fault == "truncated":
        text = as_json[: len(as_json) // 2]
    if fault in {"malformed", "truncated"}:
        record.texts = []
    record.output_tokens = max(1, len(text if text is not None else as_json) // 4)
    tokens = (record.input_tokens or 1, record.output_tokens)
    if protocol == "openai":
        reply = _openai(text if text is not None else as_json, fault, tokens)
        if record.cache_read:
            reply["usage"]["prompt_tokens_details"] = {"cached_tokens": record.cache_read}
        return reply
    if protocol == "anthropic":
        reply = _anthropic(text, answer, tokens)
        if record.cache_read or record.cache_write:
            usage = reply["usage"]
            usage["input_tokens"] -= record.cache_read + record.cache_write
            usage["cache_read_input_tokens"] = record.cache_read
            usage["cache_creation_input_tokens"] = record.cache_write
        return reply
    return _bedrock(text, answer, tokens)


def _openai(content: str, fault: str, tokens: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": "loopback",
        "choices": [
            {
                "index": 0,
                "finish_reason": "length" if fault == "truncated" else "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    }


def _anthropic(text: str | None, tool_input: Any, tokens: tuple[int, int]) -> dict[str, Any]:
    block: dict[str, Any] = (
        {"type": "text", "text": text}
        if text is not None
        else {
            "type": "tool_use",
            "id": "toolu_loopback",
            "name": "submit_samples",
            "input": tool_input,
        }
    )
    return {
        "id": "msg_loopback",
        "type": "message",
        "role": "assistant",
        "model": "loopback",
        "content": [block],
        "stop_reason": "tool_use" if text is None else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1]},
    }


def _bedrock(text: str | None, tool_input: Any, tokens: tuple[int, int]) -> dict[str, Any]:
    block: dict[str, Any] = (
        {"text": text}
        if text is not None
        else {
            "toolUse": {
                "toolUseId": "tooluse_loopback",
                "name": "submit_samples",
                "input": tool_input,
            }
        }
    )
    return {
        "output": {"message": {"role": "assistant", "content": [block]}},
        "stopReason": "tool_use" if text is None else "end_turn",
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": 1},
    }


_ERROR_TYPES = {
    429: ("rate_limit_error", "ThrottlingException"),
    500: ("api_error", "InternalServerException"),
    503: ("overloaded_error", "ServiceUnavailableException"),
    401: ("authentication_error", "AccessDeniedException"),
}


def _error(protocol: str, status: int, message: str) -> tuple[dict[str, Any], dict[str, str]]:
    anthropic_type, aws_type = _ERROR_TYPES[status]
    if protocol == "openai":
        return {"error": {"message": message, "type": anthropic_type, "code": str(status)}}, {}
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": anthropic_type, "message": message}}, {}
    return {"message": message}, {"x-amzn-ErrorType": aws_type}


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until stdin closes; prints the URL first (for a parent process to read)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rate", action="append", default=[], help="fault=probability")
    parser.add_argument("--retry-after", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rates = {k: float(v) for k, v in (item.split("=", 1) for item in args.rate)}
    server = LoopbackServer(
        latency=args.latency, rates=rates, retry_after=args.retry_after, seed=args.seed
    )
    with server:
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
