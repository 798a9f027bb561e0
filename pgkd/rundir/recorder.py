"""What a run writes as it goes: the journal, the metrics lines and the best checkpoint.

It is the loop's :class:`~pgkd.loop.LoopRecorder`: the loop says what happened, this writes it
to the run directory (and tells the person watching, through :class:`~pgkd.progress.Progress`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgkd.progress import Progress
from pgkd.report import confusion_record
from pgkd.rundir.directory import BEST_DIR, JOURNAL_FILE, METRICS_FILE, RunDirectory
from pgkd.store import JsonlLog, atomic_replace_dir, atomic_write_json
from pgkd.types import Candidate, Prompt, Rejection

if TYPE_CHECKING:
    from pgkd.loop import Trained
    from pgkd.tasks.base import Task


class Recorder:
    """The loop's side effects: journal, metrics, best checkpoint."""

    def __init__(self, run_dir: RunDirectory, task: Task, progress: Progress) -> None:
        self.run_dir = run_dir
        self.task = task
        self.progress = progress
        self.journal = JsonlLog(run_dir.path / JOURNAL_FILE)
        self.metrics_log = JsonlLog(run_dir.path / METRICS_FILE)

    def record_samples(
        self, step: int, candidates: Sequence[Candidate], rejections: dict[int, list[Rejection]]
    ) -> None:
        for i, cand in enumerate(candidates):
            found = rejections.get(i, [])
            self.journal.append(
                {
                    "event": "sample",
                    "step": step,
                    "index": i,
                    "call_id": cand.call_id,
                    "accepted": not found,
                    # "reasons" (readable text) is what journals before "rejections" held.
                    "reasons": [rejection.text for rejection in found],
                    "rejections": [rejection.to_record() for rejection in found],
                    "stratum": self.task.stratum(cand.sample) if cand.sample else None,
                    "record": dict(cand.record),
                }
            )

    def record_step(self, step: int, trained: Trained, extra: dict[str, Any]) -> None:
        line: dict[str, Any] = {"step": step, "val": trained.validation.to_dict()}
        line["val_confusion"] = confusion_record(trained.validation)
        if trained.test is not None:
            line["test"] = trained.test.to_dict()
        if trained.loop_test is not None:
            line["loop_test"] = trained.loop_test.to_dict()
        if trained.train_predictions_info:
            line["train_predictions"] = trained.train_predictions_info
        line.update(extra)
        self.metrics_log.append(line)
        self.progress.step_done(step, trained.validation, trained.test, extra)

    def record_prompt(self, step: int, prompt: Prompt) -> None:
        self.journal.append(
            {"event": "prompt", "step": step, "system": prompt.system, "user": prompt.user}
        )

    def record_run_state(self, step: int, run_state: dict[str, Any]) -> None:
        self.journal.append({"event": "run_state", "step": step, "state": run_state})

    def save_best(self, step: int, trained: Trained) -> None:
        target = self.run_dir.path / BEST_DIR
        staging = self.run_dir.path / f".{BEST_DIR}.staging"
        if staging.exists():
            shutil.rmtree(staging)
        trained.student.save(staging)
        atomic_write_json(
            staging / "pgkd_best.json",
            {
                "step": step,
                "val": dict(trained.validation.metrics),
                "val_loss": trained.validation.loss,
            },
        )
        atomic_replace_dir(staging, target)

    def close(self) -> None:
        self.journal.close()
        self.metrics_log.close()
