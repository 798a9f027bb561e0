"""Turning a provider's failure into :class:`TeacherError` / :class:`TransientTeacherError`.

Retries have one owner, :class:`~pgkd.fill.pool.TeacherPool`: providers never retry (their
SDKs are built with retries off) and only classify. Transient: 408, 409, 425, 429, every 5xx,
timeouts and dropped connections. Everything else is permanent.
"""

from __future__ import annotations

import email.utils
import socket
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from pgkd.teachers.base import TeacherError, TeacherUnreachable, TransientTeacherError
from pgkd.teachers.secrets import one_line

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUS or status >= 500


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``Retry-After`` (seconds
    or an HTTP date). None when absent or unreadable."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(0.0, float(email.utils.mktime_tz(parsed)) - time.time())


def http_failure(
    provider: str, status: int, message: str, headers: Mapping[str, Any] | None
) -> TeacherError:
    """The error for an HTTP status a provider answered with."""
    text = f"{provider}: HTTP {status}: {one_line(message, 200)}"
    if is_transient_status(status):
        return TransientTeacherError(text, retry_after=retry_after(headers))
    return TeacherError(text)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def connect_failure(exc: BaseException) -> str | None:
    """Why no connection could be made, when ``exc`` (or what caused it) says so; None for a
    failure after connecting. The SDKs' transports wrap it differently (the aiohttp one reports
    a refused connection as a connect *timeout*), so the whole chain of causes is read."""
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused: nothing is listening there"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
    for cause in _chain(exc):
        name = type(cause).__name__
        if name in ("ConnectTimeout", "ServerTimeoutError") and "Cannot connect" not in str(cause):
            return "no connection within the timeout"
        if name in ("ConnectError", "ClientConnectorError", "ConnectTimeout"):
            return "connection failed"
    return None


def unreachable(provider: str, url: str, reason: str) -> TeacherUnreachable:
    return TeacherUnreachable(f"{provider}: cannot connect to {printable_url(url)} ({reason})")


def printable_url(url: str) -> str:
    """``url`` without user or password, for messages."""
    parts = urllib.parse.urlsplit(str(url))
    if "@" not in parts.netloc:
        return str(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def sdk_failure(provider: str, exc: Exception, sdk: Any, url: str = "") -> TeacherError:
    """Classify an exception of the ``openai`` or ``anthropic`` SDK (both share one shape);
    ``url`` is the client's base URL, named when nothing can be reached there."""
    if isinstance(exc, sdk.APIConnectionError):  # includes APITimeoutError
        reason = connect_failure(exc)
        if reason is not None:
            return unreachable(provider, url, reason)
    if isinstance(exc, sdk.APITimeoutError):
        return TransientTeacherError(f"{provider}: request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "no detail"
        return TransientTeacherError(f"{provider}: connection failed ({cause})")
    if isinstance(exc, sdk.APIStatusError):
        return http_failure(provider, int(exc.status_code), str(exc.message), exc.response.headers)
    return TeacherError(f"{provider}: {type(exc).__name__}: {one_line(str(exc), 200)}")
