"""A run launched as several processes (``torchrun``, ``accelerate launch``): who does what.

Rank 0 runs the whole run as a single process would (teacher, loop, journal, run directory,
evaluation, saving); before each fit of the student it broadcasts the history, and the fit is
data-parallel (:mod:`pgkd.students.data_parallel`). Every other rank runs :func:`serve`: it
reads the same config and data splits (writing nothing), then fits a fresh student on each
history rank 0 sends, until rank 0 ends the run, successfully or not. Only students that
fine-tune through :class:`~pgkd.students.training.FineTuning` train data-parallel; any other
``[student] kind`` (the frozen encoder) is refused with one line on every rank.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pgkd.build import build_setup, check_data_parallel, student_settings
from pgkd.config import Config
from pgkd.progress import Progress
from pgkd.students.data_parallel import DataParallel, WorkerStop, launched, rank, start, stop

__all__ = ["launched", "main_process", "serve", "worker"]


def worker() -> bool:
    """True in a launched process whose rank is not 0."""
    return launched() and rank() != 0


@contextmanager
def main_process() -> Iterator[DataParallel]:
    """Rank 0 around a run: on the way out, successful or not, release the other ranks and
    leave the group. Use :meth:`DataParallel.finish` with the summary to hand it to them."""
    group = start()
    try:
        yield group
    finally:
        group.finish(None)
        stop()


def serve(
    config: Config,
    *,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
) -> dict[str, Any]:
    """A rank other than 0: fit on each history rank 0 sends, until it ends the run; returns
    rank 0's summary (empty when rank 0 failed)."""
    group = start()
    try:
        setup = build_setup(
            config,
            progress=Progress(live=False, quiet=True),
            extra_plugins=extra_plugins,
            entry_points_enabled=entry_points_enabled,
        )
        check_data_parallel(config, setup.registry)
        student_class = setup.registry.students[config.student.kind]
        settings = student_settings(config)
        labels, validation = setup.splits.labels, setup.splits.validation
        while True:
            history = group.next_request()
            student = student_class(settings, labels, config.kd.seed)
            student.fit(history, validation)
    except WorkerStop as ended:
        return dict(ended.summary or {})
    finally:
        stop()
