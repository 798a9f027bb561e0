"""What the ``openai:`` and ``anthropic:`` teachers share: a call through an official SDK.

Both SDKs have one shape: an async client built from ``base_url``, ``max_retries``, ``timeout``
and ``http_client``; a low-level ``post`` that returns the raw response; one base exception
whose subclasses :func:`pgkd.teachers.failures.sdk_failure` classifies. :class:`SdkTeacher` owns
that shape, so a provider module holds only its credentials, request body and reply parsing.

The client is built with the SDK's retries off (the pool owns retries) and a connection pool
sized to the concurrency (:mod:`pgkd.teachers.http_client`). Subclasses build it in their
``__init__``, not on the first call: the SDK client and its SSL context take tens of
milliseconds that would otherwise stall the event loop mid-fill.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import httpx2
import orjson

from pgkd.teachers.base import Teacher, TeacherReply, TeacherRequest, TeacherSettings
from pgkd.teachers.failures import sdk_failure
from pgkd.teachers.http_client import sdk_http_client
from pgkd.teachers.options import SdkOptions


class SdkTeacher(Teacher):
    """A teacher that posts JSON through the async client of the ``openai`` or ``anthropic``
    SDK and classifies the SDK's exceptions."""

    #: The imported SDK module (``openai`` or ``anthropic``).
    sdk: ClassVar[Any]
    #: The SDK's base exception: every failure of a call is one.
    sdk_error: ClassVar[type[Exception]]
    #: Where requests are posted, relative to the client's base URL.
    endpoint: ClassVar[str]
    Options: ClassVar[type[SdkOptions]] = SdkOptions
    options: SdkOptions

    def __init__(self, settings: TeacherSettings) -> None:
        super().__init__(settings)
        self._client: Any = None

    @abc.abstractmethod
    def new_client(self, **common: Any) -> Any:
        """The SDK's async client, built from the ``common`` keyword arguments (``base_url``,
        ``max_retries``, ``timeout``, ``http_client``) and the provider's credentials."""

    @abc.abstractmethod
    def payload(self, request: TeacherRequest) -> dict[str, Any]:
        """The request body."""

    @staticmethod
    @abc.abstractmethod
    def read_reply(content: bytes) -> TeacherReply:
        """A response body -> the answer text and token counts."""

    def _sdk(self) -> Any:
        if self._client is None:
            self._client = self.new_client(
                base_url=self.settings.base_url,
                max_retries=0,
                timeout=self.settings.timeout,
                http_client=sdk_http_client(self.sdk, self.settings, self.options),
            )
        return self._client

    async def complete(self, request: TeacherRequest) -> TeacherReply:
        return await self.post(self.payload(request))

    async def post(self, body: dict[str, Any]) -> TeacherReply:
        """Send one request body; its reply, or the classified failure."""
        client = self._sdk()
        try:
            response = await client.post(
                self.endpoint,
                content=orjson.dumps(body),
                cast_to=httpx2.Response,
            )
        except self.sdk_error as exc:
            raise sdk_failure(self.provider, exc, self.sdk, str(client.base_url)) from exc
        return self.read_reply(response.content)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
