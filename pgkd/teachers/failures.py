"""Turning a provider's failure into :class:`TeacherError` / :class:`TransientTeacherError`.

Retries have one owner, :class:`~pgkd.fill.pool.TeacherPool`: providers never retry (their
SDKs are built with retries off) and only classify. Transient: 408, 409, 425, 429, every 5xx,
timeouts and dropped connections. Everything else is permanent.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from pgkd.teachers.base import TeacherError, TransientTeacherError
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


def sdk_failure(provider: str, exc: Exception, sdk: Any) -> TeacherError:
    """Classify an exception of the ``openai`` or ``anthropic`` SDK (both share one shape)."""
    if isinstance(exc, sdk.APITimeoutError):
        return TransientTeacherError(f"{provider}: request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "no detail"
        return TransientTeacherError(f"{provider}: connection failed ({cause})")
    if isinstance(exc, sdk.APIStatusError):
        return http_failure(provider, int(exc.status_code), str(exc.message), exc.response.headers)
    return TeacherError(f"{provider}: {type(exc).__name__}: {one_line(str(exc), 200)}")
