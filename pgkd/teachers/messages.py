"""What passes between the teacher pool and a teacher: one request, one reply, and the two
kinds of failure (for good, or worth retrying). :mod:`pgkd.teachers.base` names them too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pgkd.types import PromptContents


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
    """One answer. ``input_tokens`` counts every prompt token, of which ``cache_read_tokens``
    came from the provider's prompt cache and ``cache_write_tokens`` were written to it (each
    billed at its own rate)."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


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


class TeacherUnreachable(TransientTeacherError):
    """Nothing answered at the teacher's address: the connection was refused, the host is
    unknown, or it did not accept a connection in time. Retried like any transient failure (a
    server may be restarting); once the retries run out, the fill fails at once with this
    message, since every other call would meet the same closed door."""
