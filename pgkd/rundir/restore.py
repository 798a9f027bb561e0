"""What a resumed run reads back from its directory: the loop's state after the last completed
step (losses, best step, the accepted history, the plugins' ``run_state``) and the teacher's
answers so far (a SIMULATION teacher replays them to hand out the same samples)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pgkd.rundir.directory import RunDirectory
from pgkd.rundir.run_state import last_run_state
from pgkd.store import read_jsonl
from pgkd.types import Sample

if TYPE_CHECKING:
    from pgkd.loop import LoopState
    from pgkd.tasks.base import Task


def restore_state(run_dir: RunDirectory, task: Task, state: LoopState) -> None:
    """Bring ``state`` (holding the seed history) to where the last completed step left it."""
    lines = run_dir.metrics()
    if not lines:
        return
    state.val_losses = [float(line["val"]["loss"]) for line in lines]
    state.steps_run = int(lines[-1]["step"])
    best = [line["step"] for line in lines if line.get("is_best") or line["step"] == 0]
    state.best_step = int(best[-1])
    state.history.extend(accepted_history(run_dir, task, state.steps_run))
    state.run_state = last_run_state(run_dir.journal_path, state.steps_run)


def accepted_history(run_dir: RunDirectory, task: Task, last_step: int) -> list[Sample]:
    """Accepted teacher samples of completed steps, in journal order; a step re-run after a
    resume keeps only its last batch."""
    batches: dict[int, list[dict[str, Any]]] = {}
    for event in read_jsonl(run_dir.journal_path):
        if event.get("event") != "sample":
            continue
        step = int(event["step"])
        if step > last_step:
            continue
        if event.get("index") == 0:
            batches[step] = []
        batches.setdefault(step, []).append(event)
    samples: list[Sample] = []
    for step in sorted(batches):
        for event in batches[step]:
            if event.get("accepted"):
                samples.append(task.parse_record(event["record"], origin="teacher", step=step))
    return samples


def teacher_answers(run_dir: RunDirectory) -> list[str]:
    """The text of every answer the teacher sent in this run, in journal order (cache hits
    replay an earlier answer and are left out)."""
    return [
        str(event.get("text", ""))
        for event in read_jsonl(run_dir.journal_path)
        if event.get("event") == "teacher_call" and event.get("ok") and not event.get("cached")
    ]
