"""Credentials come from the environment only, and never leave the process.

Teachers read keys here; everything a teacher says about a failure passes through
:func:`redact` before it reaches the journal, a log line or an exception message, because some
servers echo the key back in their error text.
"""

from __future__ import annotations

import os
import re

from pgkd.errors import ConfigError

_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SECRET_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"
    r"|AKIA[0-9A-Z]{12,}|ASIA[0-9A-Z]{12,})"
)
REDACTED = "[redacted]"


def api_key(key_env: str | None, default_env: str | None) -> str | None:
    """The key in the variable ``key_env`` (``[teacher] options.api_key_env``), else in
    ``default_env``, from the environment.

    Returns None when the variable is unset; raises when ``key_env`` names an unset variable,
    since the user asked for it explicitly."""
    if key_env is not None:
        value = os.environ.get(key_env)
        if not value:
            raise ConfigError(
                f"[teacher] options.api_key_env: {key_env!r} is not set in the environment; "
                "export it"
            )
        return value
    return os.environ.get(default_env) if default_env else None


def redact(text: str) -> str:
    """``text`` with every secret-looking environment value and key-shaped token removed."""
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, REDACTED)
    return _SECRET_SHAPES.sub(REDACTED, text)


def one_line(text: str, limit: int = 300) -> str:
    """A redacted single line of at most ``limit`` characters, for messages and the journal."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
