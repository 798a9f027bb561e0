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
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import anthropic
import orjson

from pgkd.teachers.answer_format import TOOL_DESCRIPTION, TOOL_NAME, object_schema
from pgkd.teachers.base import (
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    TransientTeacherError,
)
from pgkd.teachers.options import SdkOptions
from pgkd.teachers.sdk_teacher import SdkTeacher
from pgkd.teachers.secrets import api_key


class AnthropicOptions(SdkOptions):
    """``[teacher] options`` of ``anthropic:`` teachers (see the module docstring)."""

    json_mode: Literal["tool", "output_config", "none"] = "tool"


class AnthropicTeacher(SdkTeacher):
    provider = "anthropic"
    Options: ClassVar[type[AnthropicOptions]] = AnthropicOptions
    options: AnthropicOptions
    price_provider: ClassVar[str | None] = "anthropic"
    sdk: ClassVar[Any] = anthropic
    sdk_error = anthropic.AnthropicError
    endpoint = "/v1/messages"

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self.json_mode = self.options.json_mode
        self._key = api_key(self.options.api_key_env, None)
        self._sdk()  # now, not mid-fill (see pgkd.teachers.sdk_teacher)

    def new_client(self, **common: Any) -> Any:
        credentials: dict[str, Any] = {"api_key": self._key} if self._key else {}
        return anthropic.AsyncAnthropic(**credentials, **common)

    def payload(self, request: TeacherRequest) -> dict[str, Any]:
        """The messages request body."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "system": request.system,
            "messages": [{"role": "user", "content": request.user}],
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
        input_tokens = sum(
            int(usage.get(key) or 0)
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        return TeacherReply(
            text=text,
            input_tokens=input_tokens,
            output_tokens=int(usage.get("output_tokens") or 0),
            model=str(data.get("model") or ""),
        )
