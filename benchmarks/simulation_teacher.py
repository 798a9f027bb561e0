"""The SIMULATION teacher as the benchmarks register it: the same provider, with a handle on
the run's teacher object, so a benchmark can read how many unused rows of a class it still
holds (pgkd-budget's ``capacity``) and how far its guided class weights moved from an even
split."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from pgkd import hookimpl
from pgkd.teachers.base import TeacherSettings
from pgkd.teachers.simulation import PROVIDERS, SimulationTeacher


class SimulationHandle:
    """Registers the SIMULATION teacher under both its names and keeps the one built."""

    def __init__(self) -> None:
        self.teacher: SimulationTeacher | None = None

    @hookimpl
    def register_teachers(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        def build(settings: TeacherSettings) -> SimulationTeacher:
            self.teacher = SimulationTeacher(settings)
            return self.teacher

        for provider in PROVIDERS:
            register(provider, build)

    def __call__(self, label: str) -> int | None:
        """Unused pool rows of ``label``: pgkd-budget's ``capacity``."""
        return self.teacher.unused(label) if self.teacher is not None else None

    def mean_moved(self) -> float | None:
        """The mean total-variation distance from an even split of the guided draws' class
        weights, or None when no draw was guided."""
        if self.teacher is None or not self.teacher.moved:
            return None
        return statistics.fmean(self.teacher.moved)
