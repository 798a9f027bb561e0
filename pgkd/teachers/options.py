"""``[teacher] options``: one pydantic model per provider, validated like the config.

A provider declares its model as the class attribute ``Teacher.Options``; the base
:class:`TeacherOptions` holds what every provider understands (the connection count the runner
copies from ``[teacher] concurrency`` and the price override). Each built-in provider's model
refuses unknown keys, so a typo in a key is an error naming the key, not a setting silently
ignored. A teacher from a plugin that declares no model of its own gets the base model, which lets
its own keys through untouched.

Errors are :class:`~pgkd.errors.ConfigError` in one line: ``[teacher] options.KEY: what is wrong
(got VALUE); the fix``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pgkd.errors import ConfigError

#: Connections (and threads, for blocking SDKs) when the runner does not pass ``concurrency``.
DEFAULT_CONNECTIONS = 64

OptionsT = TypeVar("OptionsT", bound="TeacherOptions")


class TeacherOptions(BaseModel):
    """Options every provider understands. Prices are USD per million tokens and override the
    provider's list price (:meth:`pgkd.teachers.base.Teacher.price_for`); ``price_in`` and
    ``price_out`` go together, the cache rates default to ``price_in``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    concurrency: int = Field(DEFAULT_CONNECTIONS, ge=1)
    price_in: float | None = Field(None, ge=0)
    price_out: float | None = Field(None, ge=0)
    price_cache_read: float | None = Field(None, ge=0)
    price_cache_write: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _prices_in_pairs(self) -> TeacherOptions:
        given = [self.price_in is not None, self.price_out is not None]
        cache = self.price_cache_read is not None or self.price_cache_write is not None
        if (any(given) and not all(given)) or (cache and not all(given)):
            raise ValueError("set both price_in and price_out (USD per million tokens), or neither")
        return self


class StrictOptions(TeacherOptions):
    """A built-in provider's options: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SdkOptions(StrictOptions):
    """Options of the providers that call through the ``openai`` / ``anthropic`` SDKs."""

    #: Environment variable holding the key, instead of the provider's default one.
    api_key_env: str | None = None
    #: The HTTP client under the SDK (see :mod:`pgkd.teachers.http_client`).
    http_transport: Literal["auto", "aiohttp", "httpx"] = "auto"


def parse_options(model: type[OptionsT], options: Mapping[str, Any], provider: str) -> OptionsT:
    """``options`` validated by ``model``; a :class:`ConfigError` names the key and the fix."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        raise ConfigError(_message(model, exc, provider)) from None


def _message(model: type[TeacherOptions], exc: ValidationError, provider: str) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    where = f"[teacher] options.{key}" if key else "[teacher] options"
    if error["type"] == "extra_forbidden":
        known = ", ".join(sorted(name for name in model.model_fields if name != "concurrency"))
        return (
            f"{where}: not an option of the {provider} provider; remove it or use one of: {known}"
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    if not key:
        return f"{where}: {message}"
    return f"{where}: {message} (got {error.get('input')!r}); fix the value"
