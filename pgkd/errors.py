"""pgkd's own exceptions. Each message is one line naming the file, key or line and the fix."""

from __future__ import annotations


class PgkdError(Exception):
    """Base of every error a user can cause; the CLI prints it without a traceback."""


class ConfigError(PgkdError):
    pass


class DataError(PgkdError):
    pass


class PluginError(PgkdError):
    pass


class RunDirError(PgkdError):
    pass


class LeakageError(PgkdError):
    """A prompt about to be sent contains validation or test text."""


class BudgetExceeded(PgkdError):
    """The teacher budget (cost or calls) ran out; the run ends cleanly with the best student."""
