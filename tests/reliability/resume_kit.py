"""What the in-process resume tests share: a quiet run with the SIMULATION teacher on the
ticket data, and the exception a test plugin raises to stop a run mid-step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgkd.config import Config, config_from_mapping
from pgkd.hookspecs import hookimpl
from pgkd.progress import Progress
from pgkd.types import StepContext

QUIET = Progress(live=False, quiet=True)


class Crash(Exception):
    """Raised by a test plugin to stop a run where a kill would."""


class CrashInStep:
    """A plugin that fails step ``step`` after its teacher calls were answered and journaled,
    before any of its samples is recorded: the step is re-run on resume."""

    def __init__(self, step: int) -> None:
        self.step = step

    @hookimpl
    def validate_samples(self, context: StepContext, candidates: Any) -> None:
        if context.step == self.step:
            raise Crash(f"stopped in step {self.step}")


def pool_config(tickets: dict[str, Path], batch_size: int) -> Config:
    """Four KD steps of ``batch_size`` samples from the ticket pool, two calls at a time."""
    return config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {"model": f"pool:{tickets['pool']}", "concurrency": 2},
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": 4, "patience": 5, "batch_size": batch_size},
        }
    )
