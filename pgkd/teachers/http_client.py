"""The HTTP client under the ``openai`` and ``anthropic`` SDKs, sized to the pool's concurrency.

Both SDKs take an ``http_client``; we hand them one whose connection pool holds as many
connections as the pool has calls in flight (``[teacher] options`` ``concurrency``, which the
runner copies from ``[teacher] concurrency``; default
:data:`~pgkd.teachers.options.DEFAULT_CONNECTIONS`).

``[teacher] options.http_transport``: ``"aiohttp"`` uses the SDKs' aiohttp-backed client (needs the
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
from pgkd.teachers.options import SdkOptions


def transport(options: SdkOptions) -> str:
    """``"aiohttp"`` or ``"httpx"``, resolved from ``options.http_transport``."""
    has_aiohttp = importlib.util.find_spec("aiohttp") is not None
    if options.http_transport == "aiohttp" and not has_aiohttp:
        raise ConfigError(
            "[teacher] options.http_transport = 'aiohttp' needs the aiohttp package; "
            "pip install aiohttp, or use 'httpx'"
        )
    if options.http_transport == "auto":
        return "aiohttp" if has_aiohttp else "httpx"
    return options.http_transport


def sdk_http_client(sdk: Any, settings: TeacherSettings, options: SdkOptions) -> Any:
    """An ``httpx2.AsyncClient`` for ``sdk`` (the imported ``openai`` or ``anthropic`` module)."""
    size = options.concurrency
    limits = httpx2.Limits(max_connections=size, max_keepalive_connections=size)
    timeout = httpx2.Timeout(settings.timeout, connect=min(10.0, settings.timeout))
    factory = (
        sdk.DefaultAioHttpClient if transport(options) == "aiohttp" else sdk.DefaultAsyncHttpxClient
    )
    return factory(limits=limits, timeout=timeout)
