"""Plugins' ``run_state`` (:attr:`pgkd.types.StepContext.run_state`) as a run commits it.

A step's ``run_state`` is committed when the step completes: checked to be JSON, journaled
(a ``run_state`` event, before the step's metrics line marks it complete) and read back from
JSON, so the next step and a resumed run see the same value. ``pgkd resume`` starts from the
last completed step's value; a step that did not complete leaves no trace in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from pgkd.errors import PluginError
from pgkd.store import read_jsonl


def committed_run_state(run_state: dict[str, Any]) -> dict[str, Any]:
    """``run_state`` read back from JSON, as the next step and a resumed run will see it."""
    flags = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    flags |= orjson.OPT_PASSTHROUGH_SUBCLASS
    for key, value in run_state.items():
        try:
            orjson.dumps({key: value}, option=flags)
        except TypeError as exc:
            raise PluginError(
                f"run_state[{key!r}]: not JSON ({exc}); store dicts with string keys, lists, "
                "strings, numbers, booleans or None"
            ) from None
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(run_state, option=flags))
    return loaded


def last_run_state(journal: Path, last_step: int) -> dict[str, Any]:
    """Plugins' ``run_state`` as completed step ``last_step`` (or the latest before it) left
    it; a step that did not complete may have journaled one, which is ignored."""
    by_step: dict[int, dict[str, Any]] = {}
    for event in read_jsonl(journal):
        if event.get("event") == "run_state" and int(event["step"]) <= last_step:
            by_step[int(event["step"])] = dict(event.get("state") or {})
    return by_step[max(by_step)] if by_step else {}
