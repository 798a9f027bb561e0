"""``pgkd.build``: a run's parts built once from a Config object, as the commands and the Python
API get them; nothing trains and no teacher is called while building."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pgkd.build import BuiltRun, RunSetup, build_run, build_setup
from pgkd.config import Config, config_from_mapping
from pgkd.errors import ConfigError
from pgkd.fill.cache import ResponseCache
from pgkd.loop import Loop
from pgkd.progress import Progress
from pgkd.rundir.directory import RunDirectory
from pgkd.rundir.recorder import Recorder

QUIET = Progress(live=False, quiet=True)


def make_config(tickets: dict[str, Path], **teacher: object) -> Config:
    return config_from_mapping(
        {
            "data": {"train": str(tickets["train"]), "test": str(tickets["test"])},
            "teacher": {"model": f"pool:{tickets['pool']}", "max_calls": 7, **teacher},
            "student": {"kind": "frozen", "max_length": 64},
            "kd": {"steps": 3, "batch_size": 16},
        }
    )


def test_a_setup_reads_the_data_and_writes_nothing(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    setup = build_setup(make_config(tickets), progress=QUIET, entry_points_enabled=False)

    assert isinstance(setup, RunSetup)
    assert len(setup.splits.labels) == 6 and setup.splits.test
    assert 0 < len(setup.guard) <= len(setup.splits.validation) + len(setup.splits.test)
    hooks = setup.step_hooks()
    assert hooks.guard is setup.guard and hooks.labels == setup.splits.labels
    assert not isinstance(hooks, Loop)  # the dry run's part: no teacher, no recorder
    assert list(tmp_path.iterdir()) == []


def test_build_run_wires_one_pool_journal_and_guard_into_the_loop(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    run_dir = RunDirectory(tmp_path / "run")
    built = build_run(
        make_config(tickets), run_dir, resume=False, progress=QUIET, entry_points_enabled=False
    )
    try:
        assert isinstance(built, BuiltRun)
        assert run_dir.config_path.exists()
        assert isinstance(built.loop, Loop) and isinstance(built.recorder, Recorder)
        assert built.loop.pool is built.pool and built.pool.teacher is built.teacher
        assert built.loop.recorder is built.recorder
        assert built.pool.writer.journal is built.recorder.journal
        assert isinstance(built.cache, ResponseCache) and built.pool.cache is built.cache
        assert built.pool.prepare_call is not None  # the prepare_call hook, checked by the guard
        assert built.loop.guard is built.setup.guard
        assert built.usage is built.pool.usage and built.usage.max_calls == 7
        assert (built.loop.steps, built.loop.batch_size) == (3, 16)
        assert built.state.history == built.setup.splits.train and built.state.steps_run == 0
    finally:
        asyncio.run(built.aclose())


def test_an_unknown_provider_is_refused_before_the_run_directory_exists(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    config = make_config(tickets, model="nowhere:model")
    with pytest.raises(ConfigError, match=r"\[teacher\] model: unknown provider 'nowhere'"):
        build_run(
            config,
            RunDirectory(tmp_path / "run"),
            resume=False,
            progress=QUIET,
            entry_points_enabled=False,
        )
    assert not (tmp_path / "run").exists()
