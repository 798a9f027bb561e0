"""The teacher interface: one provider call in, one reply out.

A teacher knows its wire protocol and nothing else. Filling a batch (concurrency, transport
retries, re-asks on bad JSON, accounting, caching) belongs to
:class:`pgkd.fill.pool.TeacherPool`, so a new provider is one small class.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pgkd.errors import ConfigError
from pgkd.types import PromptContents


@dataclass(frozen=True, slots=True)
class TeacherSettings:
    """The ``[teacher]`` config section as a teacher sees it (secrets are never here: keys come
    from the environment or the provider's own credential chain)."""

    provider: str
    model: str
    base_url: str | None = None
    temperature: float = 0.8
    max_tokens: int = 2048
    timeout: float = 60.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def option_choice(self, name: str, choices: Sequence[str], default: str) -> str:
        """``options[name]``, which must be one of ``choices``; a ConfigError names the fix."""
        value = str(self.options.get(name, default))
        if value not in choices:
            raise ConfigError(
                f"[teacher] options {name}: expected one of {tuple(choices)}, got {value!r}"
            )
        return value


@dataclass(frozen=True, slots=True)
class TeacherRequest:
    """One call to a teacher. ``schema`` is the JSON schema of a valid answer (providers with a
    schema or JSON mode should pass it on). ``contents`` is what the prompt shows, as data
    (:class:`~pgkd.types.PromptContents`, when the prompt builder recorded it): providers send
    ``system`` and ``user`` and may ignore it."""

    system: str
    user: str
    schema: Mapping[str, Any] | None
    n_samples: int
    seed: int
    temperature: float
    max_tokens: int
    contents: PromptContents | None = None


@dataclass(frozen=True, slots=True)
class TeacherReply:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""


class TeacherError(Exception):
    """A call failed for good (bad credentials, unknown model, a 4xx other than 429)."""


class TransientTeacherError(TeacherError):
    """A call failed in a way worth retrying (429, 5xx, timeout, dropped connection).

    ``retry_after`` carries the server's ``Retry-After`` in seconds when it sent one;
    ``input_tokens``/``output_tokens`` what the failed attempt cost, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class Teacher(abc.ABC):
    """A provider's model. Subclasses implement :meth:`complete`; they must be safe to call
    concurrently from one event loop. A SIMULATION provider also implements the optional
    :class:`~pgkd.teachers.simulation_protocol.SimulationProvider` protocol."""

    provider: str = ""

    def __init__(self, settings: TeacherSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return f"{self.settings.provider}:{self.settings.model}"

    @abc.abstractmethod
    async def complete(self, request: TeacherRequest) -> TeacherReply:
        """Send one request; raise :class:`TransientTeacherError` for retryable failures and
        :class:`TeacherError` for permanent ones."""

    async def aclose(self) -> None:  # noqa: B027 - optional for teachers that hold nothing
        """Release connections or models."""
