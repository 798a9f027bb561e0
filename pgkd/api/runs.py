"""Runs from Python: distill, resume, open a finished run, compare with the teacher, export.

The ``a``-functions are coroutines for async code (``await pgkd.adistill(...)``): the run's
teacher calls share the caller's event loop, and training runs in a worker thread as always.
The plain functions block until the run ends and work anywhere: with no event loop running in
the calling thread they start one; inside a running loop (a Jupyter cell, an async web
handler), where ``asyncio.run`` is refused, they run on a fresh loop in a worker thread and
wait for it (:mod:`pgkd.api.blocking`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgkd.api.blocking import call_function, run_coroutine
from pgkd.api.result import RunResult
from pgkd.api.settings import ConfigInput, build_config

if TYPE_CHECKING:
    from pgkd.commands.dryrun import DryRunEstimate
    from pgkd.config import Config
    from pgkd.progress import Progress


def make_config(config: ConfigInput = None, /, **settings: Any) -> Config:
    """The validated run config of ``config`` (a TOML path, a dict shaped like the TOML, a
    ``pgkd.Config`` or nothing) with keyword ``settings`` on top (see :func:`distill`); a bad
    value is a one-line ``pgkd.ConfigError`` naming the key."""
    return build_config(config, settings, caller="pgkd.make_config")


def distill(
    config: ConfigInput = None,
    /,
    *,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    extra_plugins: Sequence[object] = (),
    **settings: Any,
) -> RunResult:
    """Run PGKD and return the finished run: distill the teacher into a student in ``out``.

    ``config`` is a TOML file's path, a dict shaped like the TOML, a ``pgkd.Config``, or left
    out; keyword ``settings`` go on top: ``train=``, ``validation=``, ``test=`` (a path,
    ``"hf:NAME"``, a DataFrame, a list of dicts, a ``datasets`` data set), ``data=`` (a
    ``DatasetDict``), the other ``[data]`` keys (``text_field=``, ...), and the sections
    ``teacher=``, ``student=``, ``task=`` (a string for the model, kind or name, or a dict),
    ``kd=`` and ``plugins=`` (dicts). ``overwrite`` replaces a run already in ``out``;
    ``progress=False`` prints nothing; ``extra_plugins`` registers plugin objects for this run.
    """
    built = build_config(config, settings, caller="pgkd.distill")
    return run_coroutine(lambda: _start(built, Path(out), overwrite, progress, extra_plugins))


async def adistill(
    config: ConfigInput = None,
    /,
    *,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    extra_plugins: Sequence[object] = (),
    **settings: Any,
) -> RunResult:
    """:func:`distill` for async code: ``result = await pgkd.adistill(...)``."""
    built = build_config(config, settings, caller="pgkd.adistill")
    return await _start(built, Path(out), overwrite, progress, extra_plugins)


async def _start(
    config: Config, out: Path, overwrite: bool, progress: bool, extra_plugins: Sequence[object]
) -> RunResult:
    from pgkd.rundir.directory import RunDirectory
    from pgkd.runner import execute

    run_dir = RunDirectory(out)
    run_dir.check_new(overwrite=overwrite)
    await execute(
        config,
        run_dir,
        resume=False,
        overwrite=overwrite,
        progress=_progress(progress),
        extra_plugins=extra_plugins,
    )
    return RunResult.read(out)


def resume(
    run_dir: str | Path, *, progress: bool = True, extra_plugins: Sequence[object] = ()
) -> RunResult:
    """Continue an interrupted run from its last completed step (a finished run is returned
    as it is). Data or a config that changed since it started are refused."""
    return run_coroutine(lambda: _continue(Path(run_dir), progress, extra_plugins))


async def aresume(
    run_dir: str | Path, *, progress: bool = True, extra_plugins: Sequence[object] = ()
) -> RunResult:
    """:func:`resume` for async code."""
    return await _continue(Path(run_dir), progress, extra_plugins)


async def _continue(path: Path, progress: bool, extra_plugins: Sequence[object]) -> RunResult:
    from pgkd.rundir.directory import SUMMARY_FILE, RunDirectory
    from pgkd.runner import execute

    if (path / SUMMARY_FILE).is_file():
        return RunResult.read(path)
    run_dir = RunDirectory(path)
    config = run_dir.load_config()
    run_dir.check_resumable(config, None)
    await execute(
        config, run_dir, resume=True, progress=_progress(progress), extra_plugins=extra_plugins
    )
    return RunResult.read(path)


def dry_run(
    config: ConfigInput = None, /, *, progress: bool = True, **settings: Any
) -> DryRunEstimate:
    """``pgkd run --dry-run``: train model_0, build the first prompt and estimate the whole
    run's calls, tokens and cost (``.prompt``, ``.calls``, ``.input_tokens``,
    ``.output_tokens``, ``.cost_usd``); calls no teacher and writes nothing. Takes the
    settings :func:`distill` takes."""
    from pgkd.commands.dryrun import dry_run as estimate

    built = build_config(config, settings, caller="pgkd.dry_run")
    return call_function(lambda: estimate(built, progress=_progress(progress)))


def load_run(run_dir: str | Path) -> RunResult:
    """A finished run, read from its directory."""
    return RunResult.read(run_dir)


def compare(
    run_dir: str | Path,
    *,
    split: str = "test",
    limit: int = 200,
    seed: int = 0,
    teacher: str | None = None,
    base_url: str | None = None,
) -> Mapping[str, Any]:
    """``pgkd compare``: the run's best student against a teacher LLM zero-shot on up to
    ``limit`` held-out texts (the run's teacher, or ``teacher="provider:model"`` with
    ``base_url``); returns what it writes to ``compare.json`` (accuracy, macro-F1, agreement,
    seconds per text, speed-up, the teacher's calls and tokens)."""
    from pgkd.commands.compare import compare_run

    return call_function(
        lambda: compare_run(
            Path(run_dir),
            split=split,
            limit=limit,
            seed=seed,
            teacher_model=teacher,
            base_url=base_url,
        )
    )


def export(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    format: str = "onnx",
    quantize: str | None = None,
) -> Path:
    """``pgkd export``: the best student of ``run_dir`` (or a student folder) as an ONNX graph
    plus its tokenizer in ``out`` (default ``RUN_DIR/onnx``, or ``onnx-int8`` with
    ``quantize="int8"``); returns that folder, which :func:`pgkd.load_student` and
    ``pgkd predict`` load."""
    from pgkd.serving.export import export_model

    source = Path(run_dir)
    target = Path(out) if out is not None else source / ("onnx-int8" if quantize else "onnx")
    return export_model(source, target, fmt=format, quantize=quantize).parent


def _progress(show: bool) -> Progress:
    from pgkd.progress import Progress

    return Progress.auto() if show else Progress(live=False, quiet=True)
