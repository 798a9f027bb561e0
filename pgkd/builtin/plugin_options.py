"""Reading a built-in plugin's table ``[plugins.options.NAME]``: known keys, typed values,
one-line errors that name the key and the fix."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pgkd.errors import ConfigError

__all__ = ["plugin_table", "read_bool", "read_int", "read_number"]


def plugin_table(settings: Any, name: str, known: tuple[str, ...]) -> Mapping[str, Any]:
    """``[plugins.options.NAME]`` of a run's settings (empty when absent); an unknown key is a
    :class:`ConfigError` listing the known ones."""
    options = getattr(getattr(settings, "plugins", None), "options", None)
    table = options.get(name) if isinstance(options, Mapping) else None
    if not isinstance(table, Mapping):
        return {}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(
            f"[plugins.options.{name}]: unknown key(s) {', '.join(unknown)}; "
            f"use one of: {', '.join(known)}"
        )
    return table


def read_bool(table: Mapping[str, Any], name: str, key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"[plugins.options.{name}] {key} = {value!r} must be true or false")
    return value


def read_int(table: Mapping[str, Any], name: str, key: str, default: int, *, low: int = 0) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(
            f"[plugins.options.{name}] {key} = {value!r} must be a whole number >= {low}"
        )
    return value


def read_number(
    table: Mapping[str, Any],
    name: str,
    key: str,
    default: float | None,
    *,
    low: float = 0.0,
    high: float = math.inf,
) -> float | None:
    value = table.get(key, default)
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not low <= float(value) <= high or math.isnan(float(value)):
        bound = f">= {low:g}" if math.isinf(high) else f"from {low:g} to {high:g}"
        raise ConfigError(f"[plugins.options.{name}] {key} = {value!r} must be a number {bound}")
    return float(value)
