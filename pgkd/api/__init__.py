"""The Python API: distill a teacher into a student from a script, a notebook or an async app.

Everything here is re-exported by :mod:`pgkd` (``pgkd.distill``, ``pgkd.load_student``, ...);
``docs/python.md`` walks through it.
"""

from __future__ import annotations

from pgkd.api.result import RunResult
from pgkd.api.runs import (
    adistill,
    aresume,
    compare,
    distill,
    dry_run,
    export,
    load_run,
    make_config,
    resume,
)
from pgkd.api.student import DistilledStudent, LabelPrediction, load_student

__all__ = [
    "DistilledStudent",
    "LabelPrediction",
    "RunResult",
    "adistill",
    "aresume",
    "compare",
    "distill",
    "dry_run",
    "export",
    "load_run",
    "load_student",
    "make_config",
    "resume",
]
