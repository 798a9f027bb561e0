"""Run under ``torchrun --nproc-per-node N``: every rank fits the transformer student on the same
toy history through the real request protocol; rank 0 saves the student to ``argv[2]``.
Without a launcher it fits alone (the reference). ``argv[1]`` is the tiny backbone's folder."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from pgkd.students import data_parallel
from pgkd.students.base import StudentSettings
from pgkd.students.transformer import TransformerStudent
from tests.students.conftest import LABELS, make_toy_samples

EPOCHS = 4


def settings(backbone: Path) -> StudentSettings:
    return StudentSettings(
        kind="transformer",
        backbone=str(backbone),
        max_length=32,
        batch_size=16,
        learning_rate=3e-3,
        epochs=EPOCHS,
        patience=EPOCHS,
        threads=1,
    )


def main(backbone: Path, out: Path) -> None:
    history, validation = make_toy_samples(60, 1), make_toy_samples(20, 2)
    student = TransformerStudent(settings(backbone), LABELS, seed=0)
    if not data_parallel.launched():
        student.fit(history, validation)
        student.save(out)
        return
    group = data_parallel.start()
    try:
        if group.is_main:
            group.request_training(history)
        else:
            history = group.next_request()
        student.fit(history, validation)
        if group.is_main:
            student.save(out)
            group.finish(None)
        else:
            with contextlib.suppress(data_parallel.WorkerStop):
                group.next_request()  # rank 0's end of the run
    finally:
        data_parallel.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
