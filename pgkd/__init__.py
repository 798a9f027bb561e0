"""pgkd: Performance-Guided Knowledge Distillation of an LLM into a small, fast classifier.

The run API (``distill``, ``adistill``, ``resume``, ``load_student``, ...; see
``docs/python.md``) is imported on first use of its names, so ``import pgkd`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pgkd.errors import ConfigError, DataError, PgkdError, RunDirError
from pgkd.hookspecs import hookimpl, hookspec

if TYPE_CHECKING:
    from pgkd.api import (
        DistilledStudent,
        LabelPrediction,
        RunResult,
        adistill,
        aresume,
        compare,
        distill,
        export,
        load_run,
        load_student,
        make_config,
        resume,
    )

__version__ = "0.1.0"

#: The run API's names, imported from :mod:`pgkd.api` on first use.
_API = (
    "DistilledStudent",
    "LabelPrediction",
    "RunResult",
    "adistill",
    "aresume",
    "compare",
    "distill",
    "export",
    "load_run",
    "load_student",
    "make_config",
    "resume",
)


def __getattr__(name: str) -> object:
    """Import a run-API name on first use (PEP 562) and keep it in the module."""
    if name not in _API:
        raise AttributeError(f"module 'pgkd' has no attribute {name!r}")
    value: object = getattr(importlib.import_module("pgkd.api"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


__all__ = [
    "ConfigError",
    "DataError",
    "DistilledStudent",
    "LabelPrediction",
    "PgkdError",
    "RunDirError",
    "RunResult",
    "__version__",
    "adistill",
    "aresume",
    "compare",
    "distill",
    "export",
    "hookimpl",
    "hookspec",
    "load_run",
    "load_student",
    "make_config",
    "resume",
]
