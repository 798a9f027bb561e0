"""The HTTP client under the ``openai`` and ``anthropic`` SDKs, sized to the pool's concurrency.

Both SDKs take an ``http_client``; we hand them one whose connection pool holds as many
connections as the pool has calls in flight (``[teacher] options`` ``concurrency``, which the
runner copies from ``[teacher] concurrency``; default :data:`DEFAULT_CONNECTIONS`).

``options["http_transport"]``: ``"aiohttp"`` uses the SDKs' aiohttp-backed client (needs the
``aiohttp`` package), ``"httpx"`` their default httpx client, ``"auto"`` (the default) aiohttp
when it is installed. The httpx connection pool scans every connection for each request, which
costs about 1-2 ms of CPU per call at 64 connections; the aiohttp one does not (measured in
``benchmarks/teacher_fill.py``, see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import httpx2

from pgkd.errors import ConfigError
from pgkd.teachers.base import TeacherSettings

DEFAULT_CONNECTIONS = 64
TRANSPORTS = ("auto", "aiohttp", "httpx")


def connections(settings: TeacherSettings) -> int:
    """How many connections (and worker threads, for blocking SDKs) to keep."""
    raw = settings.options.get("concurrency", DEFAULT_CONNECTIONS)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ConfigError(f"[teacher] options concurrency: expected an integer >= 1, got {raw!r}")
    return value


def transport(settings: TeacherSettings) -> str:
    """``"aiohttp"`` or ``"httpx"``, resolved from ``options["http_transport"]``."""
    wanted = settings.option_choice("http_transport", TRANSPORTS, "auto")
    has_aiohttp = importlib.util.find_spec("aiohttp") is not None
    if wanted == "aiohttp" and not has_aiohttp:
        raise ConfigError(
            "[teacher] options http_transport = 'aiohttp' needs the aiohttp package; "
            "pip install aiohttp, or use 'httpx'"
        )
    if wanted == "auto":
        return "aiohttp" if has_aiohttp else "httpx"
    return wanted


def sdk_http_client(sdk: Any, settings: TeacherSettings) -> Any:
    """An ``httpx2.AsyncClient`` for ``sdk`` (the imported ``openai`` or ``anthropic`` module)."""
    size = connections(settings)
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size)
    timeout = httpx2.Timeout(settings.timeout, connect=min(10.0, settings.timeout))
    factory = (
        sdk.DefaultAioHttpClient
        if transport(settings) == "aiohttp"
        else sdk.DefaultAsyncHttpxClient
    )
    return factory(limits=limits, timeout=timeout)
