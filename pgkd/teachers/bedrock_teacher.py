"""``bedrock:`` teachers: Amazon Bedrock's Converse API through ``boto3``.

boto3 is blocking, so each call runs in a thread pool of its own (one thread per concurrent
call) and the event loop never waits on it; botocore's connection pool
(``max_pool_connections``) is sized to the concurrency and its retries are off
(``total_max_attempts = 1``: the pool owns retries). JSON comes back through a forced tool call, as
with :mod:`pgkd.teachers.anthropic_teacher`: the answer schema is the tool's input schema.

Credentials come from boto3's own chain (environment, ``~/.aws``, SSO, instance roles).
``[teacher] options`` (:class:`BedrockOptions`): ``region`` (else ``AWS_REGION`` / the profile's
region / us-east-1), ``profile`` (a named profile), ``endpoint_url`` (or ``[teacher] base_url``;
e.g. a VPC endpoint), ``json_mode`` (``"tool"``, the default, or ``"none"``), and the price
override (:mod:`pgkd.teachers.options`). List prices are the ``aws`` entries of
``genai-prices``; cross-region profiles (``us.anthropic....``) are priced as their model.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from pgkd.teachers.answer_format import TOOL_DESCRIPTION, TOOL_NAME, object_schema
from pgkd.teachers.base import (
    Teacher,
    TeacherError,
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    TransientTeacherError,
)
from pgkd.teachers.failures import connect_failure, http_failure, retry_after, unreachable
from pgkd.teachers.options import StrictOptions
from pgkd.teachers.secrets import one_line

DEFAULT_REGION = "us-east-1"
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelTimeoutException",
        "ModelNotReadyException",
    }
)


class BedrockOptions(StrictOptions):
    """``[teacher] options`` of ``bedrock:`` teachers (see the module docstring)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    json_mode: Literal["tool", "none"] = "tool"


class BedrockTeacher(Teacher):
    provider = "bedrock"
    Options: ClassVar[type[BedrockOptions]] = BedrockOptions
    options: BedrockOptions
    price_provider: ClassVar[str | None] = "aws"

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.json_mode = self.options.json_mode
        self.connections = self.options.concurrency
        self._client: Any = None
        self._threads: ThreadPoolExecutor | None = None
        # Built now, not on the first call: loading botocore's service model takes a few
        # hundred milliseconds that would otherwise stall the event loop mid-fill.
        self._sdk()

    def _sdk(self) -> tuple[Any, ThreadPoolExecutor]:
        if self._client is None or self._threads is None:
            options = self.options
            session = boto3.Session(profile_name=options.profile, region_name=options.region)
            config = Config(
                region_name=session.region_name or DEFAULT_REGION,
                max_pool_connections=self.connections,
                # total_max_attempts counts the first try; Config's "max_attempts" counts
                # retries, so {"max_attempts": 1} would still retry once.
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=min(10.0, self.settings.timeout),
                read_timeout=self.settings.timeout,
                user_agent_extra="pgkd",
            )
            self._client = session.client(
                "bedrock-runtime",
                endpoint_url=self.settings.base_url or options.endpoint_url,
                config=config,
            )
            # A few spare threads: a call the pool timed out keeps its thread until botocore's
            # own read timeout ends it.
            self._threads = ThreadPoolExecutor(
                max_workers=self.connections + 4, thread_name_prefix="pgkd-bedrock"
            )
        return self._client, self._threads

    def converse_args(self, request: TeacherRequest) -> dict[str, Any]:
        """Keyword arguments of ``client.converse``."""
        args: dict[str, Any] = {
            "modelId": self.settings.model,
            "system": [{"text": request.system}],
            "messages": [{"role": "user", "content": [{"text": request.user}]}],
            "inferenceConfig": {
                "maxTokens": request.max_tokens,
                "temperature": request.temperature,
            },
        }
        if self.json_mode == "tool":
            spec = {
                "name": TOOL_NAME,
                "description": TOOL_DESCRIPTION,
                "inputSchema": {"json": object_schema(request.schema)},
            }
            args["toolConfig"] = {
                "tools": [{"toolSpec": spec}],
                "toolChoice": {"tool": {"name": TOOL_NAME}},
            }
        return args

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        client, threads = self._sdk()
        call = functools.partial(_converse, client, self.converse_args(request))
        return await asyncio.get_running_loop().run_in_executor(threads, call)

    async def aclose(self) -> None:
        client, threads = self._client, self._threads
        self._client = self._threads = None
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            client.close()


def _converse(client: Any, args: dict[str, Any]) -> TeacherReply:
    """Runs in a worker thread: one Converse call, its failure classified."""
    try:
        data = client.converse(**args)
    except (ClientError, BotoCoreError) as exc:
        raise bedrock_failure(exc) from exc
    return read_reply(data)


def bedrock_failure(exc: Exception) -> TeacherError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        code = str(error.get("Code", ""))
        message = f"{code}: {error.get('Message', '')}"
        if code in TRANSIENT_CODES:
            wait = retry_after(meta.get("HTTPHeaders"))
            text = f"bedrock: HTTP {status}: {one_line(message, 200)}"
            return TransientTeacherError(text, retry_after=wait)
        return http_failure("bedrock", status, message, meta.get("HTTPHeaders"))
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        url = str(exc.kwargs.get("endpoint_url", "the Bedrock endpoint"))
        reason = connect_failure(exc) or (
            "no connection within the timeout"
            if isinstance(exc, ConnectTimeoutError)
            else "connection failed"
        )
        return unreachable("bedrock", url, reason)
    if isinstance(exc, ReadTimeoutError):
        return TransientTeacherError("bedrock: request timed out")
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return TransientTeacherError(f"bedrock: connection failed ({type(exc).__name__})")
    if isinstance(exc, NoCredentialsError):
        return TeacherError(
            "bedrock: no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY, or [teacher] options profile"
        )
    return TeacherError(f"bedrock: {type(exc).__name__}: {one_line(str(exc), 200)}")


def read_reply(data: dict[str, Any]) -> TeacherReply:
    """A Converse response -> the answer text (the tool input as JSON) and tokens."""
    message = (data.get("output") or {}).get("message") or {}
    blocks = [b for b in message.get("content") or [] if isinstance(b, dict)]
    tool = next((b["toolUse"] for b in blocks if "toolUse" in b), None)
    if tool is not None:
        text = orjson.dumps(tool.get("input")).decode()
    else:
        text = "".join(str(b["text"]) for b in blocks if "text" in b)
    usage = data.get("usage") or {}
    # inputTokens leaves out the prompt-cache reads and writes; input_tokens counts them all.
    read = int(usage.get("cacheReadInputTokens") or 0)
    write = int(usage.get("cacheWriteInputTokens") or 0)
    return TeacherReply(
        text=text,
        input_tokens=int(usage.get("inputTokens") or 0) + read + write,
        output_tokens=int(usage.get("outputTokens") or 0),
        model=str(data.get("modelId") or ""),
        cache_read_tokens=read,
        cache_write_tokens=write,
    )
