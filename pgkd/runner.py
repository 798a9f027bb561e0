"""Runs a config: builds the run (:mod:`pgkd.build`), runs the loop, then writes the summary
and the report and tells the plugins it ended.

Everything a run learns or pays for is written to the run directory before it is used.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from pgkd import distributed
from pgkd.build import build_run
from pgkd.config import Config
from pgkd.errors import PluginError
from pgkd.fill.usage import Usage
from pgkd.loop import LoopState
from pgkd.progress import Progress
from pgkd.report import write_report
from pgkd.rundir.directory import BEST_DIR, SUMMARY_FILE, RunDirectory
from pgkd.store import atomic_write_json
from pgkd.students.data_parallel import DataParallel


def summarize(run_dir: RunDirectory, state: LoopState, usage: Usage) -> dict[str, Any]:
    lines = run_dir.metrics()
    by_step = {line["step"]: line for line in lines}
    first, best = by_step.get(0, {}), by_step.get(state.best_step, {})
    reasons: Counter[str] = Counter()
    teacher: dict[str, float] = {}
    generated = accepted = 0
    for line in lines[1:]:
        accepted += int(line.get("accepted", 0))
        generated += int(line.get("accepted", 0)) + int(line.get("rejected", 0))
        reasons.update(line.get("rejected_by_reason", {}))
        for key, value in (line.get("generation") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                teacher[key] = teacher.get(key, 0) + value
    return {
        "best_step": state.best_step,
        "steps_run": state.steps_run,
        "stopped_early": state.stopped_early,
        "stop_reason": state.stop_reason,
        "model_0": {k: first.get(k) for k in ("val", "test", "loop_test") if k in first},
        "best": {k: best.get(k) for k in ("val", "test", "loop_test") if k in best},
        "teacher": dict(teacher) or _usage_dict(usage),
        "samples": {
            "generated": generated,
            "accepted": accepted,
            "rejected": generated - accepted,
            "rejected_by_reason": dict(reasons),
        },
        "history_size": len(state.history),
        "best_model": str(run_dir.path / BEST_DIR),
    }


def _usage_dict(usage: Usage) -> dict[str, Any]:
    if is_dataclass(usage) and not isinstance(usage, type):
        return {k: v for k, v in asdict(usage).items() if isinstance(v, int | float)}
    return {k: v for k, v in vars(usage).items() if isinstance(v, int | float)}


async def execute(
    config: Config,
    run_dir: RunDirectory,
    *,
    resume: bool,
    progress: Progress,
    overwrite: bool = False,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
    parallel: DataParallel | None = None,
) -> dict[str, Any]:
    """Build the run (:func:`pgkd.build.build_run`), run its loop, then write ``summary.json``
    and ``report.html`` and fire ``on_run_end``; returns the summary. A coroutine, so code
    that already runs an event loop can await it. ``parallel``: rank 0 of a launched run."""
    built = build_run(
        config,
        run_dir,
        resume=resume,
        progress=progress,
        overwrite=overwrite,
        extra_plugins=extra_plugins,
        entry_points_enabled=entry_points_enabled,
        parallel=parallel,
    )
    progress.begin(config, built.setup.splits)
    try:
        state = await built.loop.run(built.state)
    finally:
        await built.aclose()
    summary = summarize(run_dir, state, built.usage)
    summary["task"] = config.task.name
    summary["guarantees"] = {
        "prompts_checked_for_heldout_text": True,
        "heldout_texts_guarded": len(built.setup.guard),
    }
    atomic_write_json(run_dir.path / SUMMARY_FILE, summary)
    write_report(run_dir.path)
    built.setup.pm.hook.on_run_end(run_dir=run_dir.path, summary=summary)
    return summary


def run(
    config: Config,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
) -> dict[str, Any]:
    """Start a new run in ``out``; returns the summary. Under a launcher with several
    processes (:mod:`pgkd.distributed`) rank 0 runs it and the others serve its fits."""
    if distributed.worker():
        return distributed.serve(
            config, extra_plugins=extra_plugins, entry_points_enabled=entry_points_enabled
        )
    run_dir = RunDirectory(out)
    return _on_main_process(
        config,
        run_dir,
        resume=False,
        overwrite=overwrite,
        progress=progress,
        extra_plugins=extra_plugins,
        entry_points_enabled=entry_points_enabled,
    )


def resume(
    out: Path,
    *,
    changed: Config | None = None,
    progress: Progress | None = None,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
) -> dict[str, Any]:
    """Continue the run in ``out`` from its last completed step (under a launcher, as
    :func:`run` does)."""
    run_dir = RunDirectory(out)
    config = run_dir.load_config()
    run_dir.check_resumable(config, changed)
    if distributed.worker():
        return distributed.serve(
            config, extra_plugins=extra_plugins, entry_points_enabled=entry_points_enabled
        )
    return _on_main_process(
        config,
        run_dir,
        resume=True,
        progress=progress,
        extra_plugins=extra_plugins,
        entry_points_enabled=entry_points_enabled,
    )


def _on_main_process(
    config: Config,
    run_dir: RunDirectory,
    *,
    resume: bool,
    overwrite: bool = False,
    progress: Progress | None,
    extra_plugins: Sequence[object],
    entry_points_enabled: bool,
) -> dict[str, Any]:
    """Run or resume on rank 0 (the only process of a single-process run)."""
    with _main_process() as parallel:
        if not resume:
            run_dir.check_new(overwrite=overwrite)
        summary = asyncio.run(
            execute(
                config,
                run_dir,
                resume=resume,
                overwrite=overwrite,
                progress=progress or Progress.auto(),
                extra_plugins=extra_plugins,
                entry_points_enabled=entry_points_enabled,
                parallel=parallel,
            )
        )
        if parallel is not None:
            parallel.finish(summary)
    return summary


@contextmanager
def _main_process() -> Iterator[DataParallel | None]:
    """Rank 0's group in a launched run (released at the end, also on an error); None in a
    single-process run."""
    if not distributed.launched():
        yield None
        return
    with distributed.main_process() as parallel:
        yield parallel


__all__ = ["SUMMARY_FILE", "PluginError", "RunDirectory", "execute", "resume", "run", "summarize"]
