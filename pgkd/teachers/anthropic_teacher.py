"""``anthropic:`` teachers: Anthropic's messages API through the official ``anthropic`` SDK.

JSON comes back through a forced tool call: the answer schema is the ``input_schema`` of one
tool, ``submit_samples``, and ``tool_choice`` makes the model call it. That works on every
Claude model since Claude 3, on Bedrock and Vertex and through Anthropic-compatible proxies, and
the tool input arrives as parsed JSON, without prose or code fences around it. Newer models
also accept structured outputs (``output_config.format``), offered as ``json_mode =
"output_config"``; ``json_mode = "none"`` leaves JSON to the prompt.

The SDK's retries are off (the pool owns retries); its connection pool is sized to the
concurrency (:mod:`pgkd.teachers.sdk_teacher`); requests go through its low-level ``post`` (see
:mod:`pgkd.teachers.openai_teacher` for why). Credentials: the variable named by ``[teacher]
options`` ``api_key_env`` when given, else the SDK's own chain (``ANTHROPIC_API_KEY``,
``ANTHROPIC_AUTH_TOKEN``, profiles). ``base_url`` (or ``ANTHROPIC_BASE_URL``) reaches another
endpoint.

Prompt caching (``[teacher] options.prompt_cache``, default true): every call of a KD step sends
the same long prompt (tool schema, system prompt, the step's PGKD prompt) and asks for new
samples only through the seed and the temperature, so the prompt is marked with
``cache_control`` breakpoints (after the system prompt and after the user message). A marked
prompt is billed once at the cache-write rate (1.25x input) and then read at a tenth of the
input rate for five minutes. A cache entry is only readable once the first reply that wrote it
has begun, so the calls that start *while* that first one is on the wire would each pay the
write premium without reading anything: the teacher marks the first call of a prompt, sends the
calls that overlap it unmarked, and marks every call after its reply came back (they read).
Prompts shorter than the model's minimum (1024 to 4096 tokens) are not cached, at no extra cost.
Reads and writes come back in ``usage`` (``cache_read_input_tokens``,
``cache_creation_input_tokens``) and are priced at their own rates.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, ClassVar, Literal

import anthropic
import orjson

from pgkd.teachers.answer_format import TOOL_DESCRIPTION, TOOL_NAME, object_schema
from pgkd.teachers.anthropic_batch import AnthropicBatches
from pgkd.teachers.base import (
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    TransientTeacherError,
)
from pgkd.teachers.batch_api import BatchApi
from pgkd.teachers.options import SdkOptions
from pgkd.teachers.sdk_teacher import SdkTeacher
from pgkd.teachers.secrets import api_key


class AnthropicOptions(SdkOptions):
    """``[teacher] options`` of ``anthropic:`` teachers (see the module docstring)."""

    json_mode: Literal["tool", "output_config", "none"] = "tool"
    #: Mark the prompt for Anthropic's prompt cache (see the module docstring).
    prompt_cache: bool = True


#: ``cache_control`` of a breakpoint: the five-minute cache.
EPHEMERAL = {"type": "ephemeral"}


class PromptCacheLedger:
    """Which prompts were marked for caching, and whether the call that wrote each came back.

    :meth:`claim` answers whether a call may mark its prompt: the first call of a prompt does
    (it writes the cache), calls while that one is on the wire do not (they could not read it
    yet and would pay the write premium), calls after it came back do (they read). Remembers
    the last ``size`` prompts."""

    PENDING, WRITTEN = "pending", "written"

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._state: OrderedDict[str, str] = OrderedDict()

    def claim(self, key: str) -> bool:
        state = self._state.get(key)
        if state is None:
            self._state[key] = self.PENDING
            while len(self._state) > self.size:
                self._state.popitem(last=False)
            return True
        self._state.move_to_end(key)
        return state == self.WRITTEN

    def settle(self, key: str, *, ok: bool) -> None:
        """The marked call of ``key`` came back (``ok``) or failed (the next call writes)."""
        if ok:
            self._state[key] = self.WRITTEN
        elif self._state.get(key) == self.PENDING:
            del self._state[key]


def prompt_key(model: str, request: TeacherRequest) -> str:
    """What the cached prefix depends on: the model, the answer schema (the tool) and the
    prompt."""
    material = orjson.dumps(
        [model, request.schema, request.system, request.user], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(material).hexdigest()


class AnthropicTeacher(SdkTeacher):
    provider = "anthropic"
    Options: ClassVar[type[AnthropicOptions]] = AnthropicOptions
    options: AnthropicOptions
    price_provider: ClassVar[str | None] = "anthropic"
    sdk: ClassVar[Any] = anthropic
    sdk_error = anthropic.AnthropicError
    endpoint = "/v1/messages"
    #: Message Batches bill half the online price (:mod:`pgkd.teachers.anthropic_batch`).
    batch_discount: ClassVar[float | None] = 0.5

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.json_mode = self.options.json_mode
        self.prompt_cache = PromptCacheLedger() if self.options.prompt_cache else None
        self._key = api_key(self.options.api_key_env, None)
        self._sdk()  # now, not mid-fill (see pgkd.teachers.sdk_teacher)

    def new_client(self, **common: Any) -> Any:
        credentials: dict[str, Any] = {"api_key": self._key} if self._key else {}
        return anthropic.AsyncAnthropic(**credentials, **common)

    def batch_api(self) -> BatchApi:
        return AnthropicBatches(self)

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        ledger = self.prompt_cache
        if ledger is None:
            return await self.post(self.payload(request))
        key = prompt_key(self.settings.model, request)
        marked = ledger.claim(key)
        try:
            reply = await self.post(self.payload(request, cache=marked))
        except BaseException:
            if marked:
                ledger.settle(key, ok=False)
            raise
        if marked:
            ledger.settle(key, ok=True)
        return reply

    def payload(self, request: TeacherRequest, *, cache: bool = False) -> dict[str, Any]:
        """The messages request body; ``cache`` marks the prompt for the prompt cache."""
        system: Any = request.system
        user: Any = request.user
        if cache:
            if request.system:
                system = [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}]
            user = [{"type": "text", "text": request.user, "cache_control": EPHEMERAL}]
        body: dict[str, Any] = {
            "model": self.settings.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "system": system,
            "messages": [{"role": "user", "content": user}],
        }
        if self.json_mode == "tool":
            body["tools"] = [
                {
                    "name": TOOL_NAME,
                    "description": TOOL_DESCRIPTION,
                    "input_schema": object_schema(request.schema),
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        elif self.json_mode == "output_config":
            schema = object_schema(request.schema)
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return body

    @staticmethod
    def read_reply(content: bytes) -> TeacherReply:
        """A messages response body -> the answer text (the tool input as JSON) and tokens."""
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise TransientTeacherError("anthropic: the server's reply is not JSON") from None
        if not isinstance(data, dict):
            raise TransientTeacherError("anthropic: the server's reply is not a message")
        blocks = [b for b in data.get("content") or [] if isinstance(b, dict)]
        tool = next((b for b in blocks if b.get("type") == "tool_use"), None)
        if tool is not None:
            text = orjson.dumps(tool.get("input")).decode()
        else:
            text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
        usage = data.get("usage") or {}
        # input_tokens leaves out the cache reads and writes; our input_tokens counts them all.
        read = int(usage.get("cache_read_input_tokens") or 0)
        write = int(usage.get("cache_creation_input_tokens") or 0)
        return TeacherReply(
            text=text,
            input_tokens=int(usage.get("input_tokens") or 0) + read + write,
            output_tokens=int(usage.get("output_tokens") or 0),
            model=str(data.get("model") or ""),
            cache_read_tokens=read,
            cache_write_tokens=write,
        )
