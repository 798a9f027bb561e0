"""``openai:`` teachers: OpenAI's chat completions API and every server that speaks it (vLLM,
llama.cpp server, Ollama, LiteLLM, ...) through ``base_url``.

Uses the official ``openai`` SDK's async client, with its retries off (the pool owns retries)
and a connection pool sized to the concurrency (:mod:`pgkd.teachers.sdk_teacher`). Requests go
through the SDK's low-level ``post``, the body written and the reply read with orjson: the typed
``chat.completions.create`` path costs ~0.4 ms more CPU per call in parameter transforms and
pydantic models, ~25 ms per round of 64 concurrent calls against a 200 ms round trip
(``benchmarks/RESULTS.md``). Auth, headers, timeouts and error types are still the SDK's.

``[teacher] options`` (:class:`OpenAIOptions`; also ``http_transport``, see
:mod:`pgkd.teachers.http_client`, and the price override, see :mod:`pgkd.teachers.options`):

``api_key_env``
    Environment variable holding the key (default ``OPENAI_API_KEY``). With ``base_url`` and no
    key, a placeholder is sent (local servers ignore it).
``json_mode``
    How the answer schema is requested. ``"json_schema"`` (default without ``base_url``):
    OpenAI structured outputs (``strict`` per option ``json_strict``, default false).
    ``"json_object_schema"`` (default with ``base_url``): ``{"type": "json_object", "schema":
    ...}``, which llama.cpp server and vLLM turn into a grammar (llama.cpp answers 500 to the
    ``json_schema`` form). ``"json_object"``: JSON mode without a schema. ``"none"``: the
    prompt alone asks for JSON.
``max_tokens_field``
    ``"max_completion_tokens"`` (default without ``base_url``; required by OpenAI's reasoning
    models) or ``"max_tokens"`` (default with ``base_url``).

Prices are OpenAI's list prices from ``genai-prices``; prompt tokens OpenAI served from its
automatic prompt cache (``usage.prompt_tokens_details.cached_tokens``) are billed at the
cached-input rate. A model behind ``base_url`` that the table does not know has no price.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import openai
import orjson

from pgkd.errors import ConfigError
from pgkd.teachers.answer_format import object_schema
from pgkd.teachers.base import (
    TeacherReply,
    TeacherRequest,
    TeacherSettings,
    TransientTeacherError,
)
from pgkd.teachers.batch_api import BatchApi
from pgkd.teachers.openai_batch import OpenAIBatches
from pgkd.teachers.options import SdkOptions
from pgkd.teachers.sdk_teacher import SdkTeacher
from pgkd.teachers.secrets import api_key

JsonMode = Literal["json_schema", "json_object_schema", "json_object", "none"]
#: Sent to keyless OpenAI-compatible servers, which ignore it.
KEYLESS = "no-key"


class OpenAIOptions(SdkOptions):
    """``[teacher] options`` of ``openai:`` teachers (see the module docstring)."""

    #: None: ``"json_schema"`` for OpenAI, ``"json_object_schema"`` with ``base_url``.
    json_mode: JsonMode | None = None
    json_strict: bool = False
    #: None: ``"max_completion_tokens"`` for OpenAI, ``"max_tokens"`` with ``base_url``.
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] | None = None


class OpenAITeacher(SdkTeacher):
    provider = "openai"
    Options: ClassVar[type[OpenAIOptions]] = OpenAIOptions
    options: OpenAIOptions
    price_provider: ClassVar[str | None] = "openai"
    sdk: ClassVar[Any] = openai
    sdk_error = openai.OpenAIError
    endpoint = "/chat/completions"
    #: The Batch API bills half the online price (:mod:`pgkd.teachers.openai_batch`).
    batch_discount: ClassVar[float | None] = 0.5

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        remote = settings.base_url is None
        options = self.options
        self.json_mode: JsonMode = options.json_mode or (
            "json_schema" if remote else "json_object_schema"
        )
        self.max_tokens_field = options.max_tokens_field or (
            "max_completion_tokens" if remote else "max_tokens"
        )
        self.json_strict = options.json_strict
        key = api_key(options.api_key_env, "OPENAI_API_KEY")
        if key is None and remote:
            raise ConfigError(
                "[teacher] model openai:...: no API key; export OPENAI_API_KEY (or name another "
                "variable in [teacher] options api_key_env), or set base_url for a local server"
            )
        self._key = key or KEYLESS
        self._sdk()  # now, not mid-fill (see pgkd.teachers.sdk_teacher)

    def new_client(self, **common: Any) -> Any:
        return openai.AsyncOpenAI(api_key=self._key, **common)

    def batch_api(self) -> BatchApi:
        return OpenAIBatches(self)

    def payload(self, request: TeacherRequest) -> dict[str, Any]:
        """The chat completions request body."""
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.user},
            ],
            "temperature": request.temperature,
            self.max_tokens_field: request.max_tokens,
            "seed": request.seed,
        }
        response_format = self._response_format(request)
        if response_format is not None:
            body["response_format"] = response_format
        return body

    def _response_format(self, request: TeacherRequest) -> dict[str, Any] | None:
        if self.json_mode == "none":
            return None
        if self.json_mode == "json_object" or request.schema is None:
            return {"type": "json_object"}
        if self.json_mode == "json_object_schema":
            return {"type": "json_object", "schema": dict(request.schema)}
        return {
            "type": "json_schema",
            "json_schema": {
                "name": "samples",
                "schema": object_schema(request.schema),
                "strict": self.json_strict,
            },
        }

    @staticmethod
    def read_reply(content: bytes) -> TeacherReply:
        """A chat completion body -> the answer text and token counts."""
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise TransientTeacherError("openai: the server's reply is not JSON") from None
        choices = data.get("choices") if isinstance(data, dict) else None
        if not choices or not isinstance(choices[0], dict):
            raise TransientTeacherError("openai: the server's reply has no choices")
        message = choices[0].get("message") or {}
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        return TeacherReply(
            text=str(message.get("content") or ""),
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            model=str(data.get("model") or ""),
            # Part of prompt_tokens, served from OpenAI's automatic prompt cache.
            cache_read_tokens=int(details.get("cached_tokens") or 0),
        )
