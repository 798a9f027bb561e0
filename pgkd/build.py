"""Builds a run from a config, once, for ``pgkd run`` and ``pgkd resume``, the dry run,
``pgkd compare`` and the Python API.

Two levels, both called with a validated :class:`~pgkd.config.Config`:

- :func:`build_setup` gives a :class:`RunSetup`: the plugin manager and its registry, the task,
  the data splits and the held-out guard. It writes nothing and builds no teacher, so the dry
  run and ``pgkd compare`` start from it.
- :func:`build_run` adds what a run needs on top: the student trainer, the teacher, the teacher
  pool (response cache, journal, budget, the ``prepare_call`` hook), the recorder and the
  :class:`~pgkd.loop.Loop` with its starting state (read back from the run directory on
  resume). It creates a new run's directory, after every check that can fail on the config.

Each part has its own small constructor below (:func:`build_plugins`, :func:`make_task`,
:func:`load_splits`, :func:`make_guard`, :func:`make_trainer`, :func:`make_teacher`,
:func:`make_pool`, ...), so a caller can take only the parts it needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pluggy

from pgkd.config import Config
from pgkd.data import Splits, prepare_splits
from pgkd.errors import ConfigError, PgkdError
from pgkd.fill.batch_fill import BatchMode, require_batch_api
from pgkd.fill.batch_jobs import BatchLedger
from pgkd.fill.cache import ResponseCache
from pgkd.fill.pool import CallPreparer, TeacherPool
from pgkd.fill.usage import Usage
from pgkd.guard import HeldOutGuard
from pgkd.loop import Loop, LoopState, StepHooks, Trained, TrainStudent
from pgkd.plugins import Registry, build_plugin_manager, build_registry
from pgkd.progress import Progress
from pgkd.rundir.directory import BEST_DIR, CACHE_FILE, EMBEDDINGS_FILE, RunDirectory
from pgkd.rundir.recorder import Recorder
from pgkd.rundir.restore import restore_state, teacher_answers
from pgkd.store import JsonlLog, read_jsonl, recover_dir
from pgkd.students.base import Student, StudentSettings
from pgkd.students.data_parallel import DataParallel, world_size
from pgkd.students.device import resolve_device
from pgkd.students.history_predictions import choose_kind, describe, predict_history
from pgkd.tasks.base import Task
from pgkd.teachers.base import Teacher, TeacherSettings
from pgkd.teachers.simulation_protocol import SimulationProvider
from pgkd.types import CallPlan, Prompt, Sample, StepContext

__all__ = [
    "BuiltRun",
    "RunSetup",
    "batch_mode",
    "build_plugins",
    "build_run",
    "build_setup",
    "call_preparer",
    "check_data_parallel",
    "load_splits",
    "make_guard",
    "make_pool",
    "make_task",
    "make_teacher",
    "make_trainer",
    "student_settings",
    "teacher_settings",
]


# -- settings the parts are built with --------------------------------------------------------


def student_settings(config: Config) -> StudentSettings:
    s = config.student
    return StudentSettings(
        kind=s.kind,
        backbone=s.backbone,
        max_length=s.max_length,
        batch_size=s.batch_size,
        learning_rate=s.learning_rate,
        epochs=s.epochs,
        patience=s.patience,
        threads=s.threads,
        device=s.device,
        precision=s.precision,
        options=dict(s.options),
    )


def teacher_settings(config: Config) -> TeacherSettings:
    t = config.teacher
    return TeacherSettings(
        provider=t.provider,
        model=t.model_name,
        base_url=t.base_url,
        temperature=t.temperature,
        max_tokens=t.max_tokens,
        timeout=t.timeout,
        # Providers size their connection pools to the pool's concurrency.
        options={"concurrency": t.concurrency, **t.options},
    )


def pool_limits(config: Config) -> dict[str, Any]:
    """The pool's budget caps and rate limits, from ``[teacher]``."""
    t = config.teacher
    return {
        "max_cost_usd": t.max_cost_usd,
        "max_calls": t.max_calls,
        "requests_per_minute": t.requests_per_minute,
        "tokens_per_minute": t.tokens_per_minute,
    }


# -- the parts ----------------------------------------------------------------------------------


def build_plugins(
    config: Config, extra: Sequence[object] = (), entry_points_enabled: bool = True
) -> tuple[pluggy.PluginManager, Registry]:
    """The plugin manager (built-ins, entry points, ``[plugins] load``, then ``extra``) and
    what its registration hooks registered."""
    pm = build_plugin_manager(
        disable=config.plugins.disable,
        load=config.plugins.load,
        extra=extra,
        entry_points_enabled=entry_points_enabled,
    )
    return pm, build_registry(pm)


def make_task(config: Config, registry: Registry) -> Task:
    """The ``[task] name`` task."""
    factory = registry.tasks.get(config.task.name)
    if factory is None:
        raise ConfigError(
            f"[task] name: unknown task {config.task.name!r}; use one of: "
            + ", ".join(sorted(registry.tasks))
        )
    task: Task = factory()
    return task


def load_splits(config: Config, task: Task) -> Splits:
    """``[data]`` read and split (seeded by ``[kd] seed``)."""
    return prepare_splits(config.data, task, config.kd.seed)


def make_guard(config: Config, splits: Splits) -> HeldOutGuard:
    """The check that keeps validation and test text (loop-test too) out of every prompt and
    every accepted sample."""
    heldout = [s.text for s in (*splits.validation, *splits.test, *splits.loop_test)]
    return HeldOutGuard(heldout, near_copy_threshold=config.kd.near_copy_threshold)


def teacher_factory(config: Config, registry: Registry) -> Callable[..., Any]:
    """The registered provider of ``[teacher] model``; an unknown one is a ConfigError."""
    provider = config.teacher.provider
    factory = registry.teachers.get(provider)
    if factory is None:
        known = ", ".join(sorted(registry.teachers))
        raise ConfigError(f"[teacher] model: unknown provider {provider!r}; use one of: {known}")
    return factory


def make_teacher(config: Config, registry: Registry) -> Teacher:
    teacher: Teacher = teacher_factory(config, registry)(teacher_settings(config))
    return teacher


def make_trainer(
    config: Config,
    registry: Registry,
    task: Task,
    splits: Splits,
    progress: Progress,
    store: Path | None = None,
) -> TrainStudent:
    """Fits a fresh ``[student] kind`` student on a history and evaluates it (validation,
    test, loop-test, the history's predictions). ``store`` caches the frozen encoder's
    embeddings on disk. An unknown student kind is refused here, before anything runs."""
    kind = config.student.kind
    student_class = registry.students.get(kind)
    if student_class is None:
        known = ", ".join(sorted(registry.students))
        raise ConfigError(f"[student] kind: unknown student {kind!r}; use one of: {known}")
    settings = student_settings(config)
    resolve_device(settings.device)  # a GPU that is not there fails before the run starts
    if store is not None:
        settings = replace(settings, options={**settings.options, "embedding_store": str(store)})

    def train(history: list[Sample]) -> Trained:
        seconds: dict[str, float] = {}
        mark = time.perf_counter()
        student: Student = student_class(settings, splits.labels, config.kd.seed)
        kind = choose_kind(config.kd, task, student)
        student.fit(history, splits.validation, progress=progress.fit_callback())
        seconds["training"] = time.perf_counter() - mark
        mark = time.perf_counter()
        validation, _ = task.evaluate(student, splits.validation, splits.labels)
        test = task.evaluate(student, splits.test, splits.labels)[0] if splits.test else None
        loop_test = (
            task.evaluate(student, splits.loop_test, splits.labels)[0] if splits.loop_test else None
        )
        seconds["evaluation"] = time.perf_counter() - mark
        mark = time.perf_counter()
        folds, seed = config.kd.folds, config.kd.seed
        train_predictions, kind = predict_history(
            task, student, history, splits.labels, kind, folds=folds, seed=seed
        )
        seconds["train_predictions"] = time.perf_counter() - mark
        info = describe(train_predictions, kind, folds)
        return Trained(student, validation, test, loop_test, train_predictions, seconds, info)

    return train


def check_data_parallel(config: Config, registry: Registry) -> None:
    """A one-line ConfigError unless ``[student] kind`` fine-tunes through
    :class:`~pgkd.students.training.FineTuning`, the only loop that trains data-parallel."""
    from pgkd.students.fine_tuned import FineTunedStudent  # torch: only for a launched run
    from pgkd.students.registry import LazyStudentClass

    found = registry.students.get(config.student.kind)
    student_class = found.resolve() if isinstance(found, LazyStudentClass) else found
    if isinstance(student_class, type) and not issubclass(student_class, FineTunedStudent):
        raise ConfigError(
            f'[student] kind = "{config.student.kind}" does not train data-parallel (world size '
            f"{world_size()}); run it as one process, or use a fine-tuned kind such as "
            '"transformer"'
        )


def call_preparer(pm: pluggy.PluginManager, guard: HeldOutGuard) -> CallPreparer:
    """The teacher pool's ``prepare_call``: fires the ``prepare_call`` hook for each call of a
    step's fill, turns a bare ``Prompt`` into a plan of ``n_samples``, and checks a prompt
    that differs from the step's for validation/test text before any teacher sees it."""

    def prepare(
        *,
        context: StepContext,
        prompt: Prompt,
        call_index: int,
        n_calls: int,
        n_samples: int,
    ) -> CallPlan | None:
        answer = pm.hook.prepare_call(
            context=context,
            prompt=prompt,
            call_index=call_index,
            n_calls=n_calls,
            n_samples=n_samples,
        )
        if answer is None:
            return None
        if isinstance(answer, Prompt):
            answer = CallPlan(answer, n_samples)
        if not isinstance(answer, CallPlan):
            raise PgkdError(
                f"the prepare_call hook returned {type(answer).__name__}, not Prompt or CallPlan"
            )
        if answer.prompt != prompt:
            guard.check_prompt(answer.prompt.text)
        return answer

    return prepare


def make_pool(
    config: Config,
    teacher: Teacher,
    *,
    task: Task,
    labels: tuple[str, ...],
    journal: JsonlLog | None,
    cache: ResponseCache | None,
    progress: Progress,
    prepare_call: CallPreparer | None,
    batch: BatchMode | None = None,
) -> TeacherPool:
    """The teacher wrapped with ``[teacher]``'s concurrency, retries, re-asks, budget and rate
    limits; it journals every call to ``journal`` and replays answers from ``cache``; with
    ``batch``, fills go through the provider's batch API."""
    return TeacherPool(
        teacher,
        task=task,
        labels=labels,
        concurrency=config.teacher.concurrency,
        samples_per_call=config.teacher.samples_per_call,
        max_retries=config.teacher.max_retries,
        max_reasks=config.teacher.max_reasks,
        usage=Usage(),
        journal=journal,
        cache=cache,
        progress=progress.fill_callback(),
        seed=config.kd.seed,
        prepare_call=prepare_call,
        batch=batch,
        **pool_limits(config),
    )


def batch_mode(
    config: Config, teacher: Teacher, run_dir: RunDirectory, progress: Progress, *, resume: bool
) -> BatchMode | None:
    """Batch mode when ``[teacher] batch`` is on (a teacher without a batch API is a
    ConfigError); a resumed run knows the jobs its journal holds, so it re-attaches to them
    instead of submitting again."""
    if not config.teacher.batch:
        return None
    require_batch_api(teacher)
    events = read_jsonl(run_dir.journal_path) if resume else ()
    return BatchMode(
        poll_seconds=config.teacher.batch_poll_seconds,
        ledger=BatchLedger.from_journal(events),
        progress=progress.batch_callback(),
    )


# -- a setup: what every command that reads a config needs ---------------------------------------


@dataclass
class RunSetup:
    """The parts built from a config that write nothing and call no teacher."""

    config: Config
    pm: pluggy.PluginManager
    registry: Registry
    task: Task
    splits: Splits
    progress: Progress

    @cached_property
    def guard(self) -> HeldOutGuard:
        return make_guard(self.config, self.splits)

    def trainer(self, store: Path | None = None) -> TrainStudent:
        return make_trainer(
            self.config, self.registry, self.task, self.splits, self.progress, store
        )

    def teacher(self) -> Teacher:
        return make_teacher(self.config, self.registry)

    def step_hooks(self) -> StepHooks:
        """A step's hooks up to its prompt (and its batch's validation), without a teacher."""
        return StepHooks(
            pm=self.pm,
            task=self.task,
            labels=self.splits.labels,
            settings=self.config,
            seed=self.config.kd.seed,
            samples_per_call=self.config.teacher.samples_per_call,
            guard=self.guard,
        )


def build_setup(
    config: Config,
    *,
    progress: Progress | None = None,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
) -> RunSetup:
    """Plugins, registry, task and data splits for ``config``; an unknown ``[task] name`` or
    ``[teacher] model`` provider is refused before the data is read."""
    progress = progress or Progress.auto()
    pm, registry = build_plugins(config, extra_plugins, entry_points_enabled)
    task = make_task(config, registry)
    teacher_factory(config, registry)
    progress.stage("loading data")
    splits = load_splits(config, task)
    return RunSetup(config, pm, registry, task, splits, progress)


# -- a run: the setup plus the teacher, the pool, the records and the loop ------------------------


@dataclass
class BuiltRun:
    """Everything a run needs, ready for :meth:`~pgkd.loop.Loop.run` on :attr:`state`;
    :meth:`aclose` releases the journal, the teacher's connections and the cache."""

    setup: RunSetup
    run_dir: RunDirectory
    teacher: Teacher
    pool: TeacherPool
    cache: ResponseCache | None
    recorder: Recorder
    loop: Loop
    state: LoopState

    @property
    def usage(self) -> Usage:
        return self.pool.usage

    async def aclose(self) -> None:
        self.recorder.close()
        await self.teacher.aclose()
        if self.cache is not None:
            self.cache.close()


def build_run(
    config: Config,
    run_dir: RunDirectory,
    *,
    resume: bool,
    progress: Progress | None = None,
    overwrite: bool = False,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
    parallel: DataParallel | None = None,
) -> BuiltRun:
    """Build the run of ``config`` in ``run_dir``: a new one (the directory is created, after
    every check on the config passed) or, with ``resume``, the run already there, with the
    loop's state read back from its last completed step. With ``parallel`` (rank 0 of a
    launched run) each fit of the student is announced to the other ranks and data-parallel."""
    setup = build_setup(
        config,
        progress=progress,
        extra_plugins=extra_plugins,
        entry_points_enabled=entry_points_enabled,
    )
    train = setup.trainer(run_dir.path / EMBEDDINGS_FILE)
    if parallel is not None:
        check_data_parallel(config, setup.registry)
        train = parallel.announcing(train)
    teacher = setup.teacher()
    batch = batch_mode(config, teacher, run_dir, setup.progress, resume=resume)
    if not resume:
        run_dir.create(config, overwrite=overwrite)
    recorder = Recorder(run_dir, setup.task, setup.progress)
    cache = ResponseCache(run_dir.path / CACHE_FILE) if config.teacher.cache else None
    pool = make_pool(
        config,
        teacher,
        task=setup.task,
        labels=setup.splits.labels,
        journal=recorder.journal,
        cache=cache,
        progress=setup.progress,
        prepare_call=call_preparer(setup.pm, setup.guard),
        batch=batch,
    )
    hooks = setup.step_hooks()
    loop = Loop(
        pm=hooks.pm,
        task=hooks.task,
        labels=hooks.labels,
        settings=hooks.settings,
        seed=hooks.seed,
        samples_per_call=hooks.samples_per_call,
        guard=hooks.guard,
        steps=config.kd.steps,
        batch_size=config.kd.batch_size,
        pool=pool,
        train_student=train,
        recorder=recorder,
        run_dir=run_dir.path,
    )
    state = LoopState(history=list(setup.splits.train))
    if resume:
        recover_dir(run_dir.path / BEST_DIR)
        restore_state(run_dir, setup.task, state)
        if isinstance(teacher, SimulationProvider):
            teacher.restore(teacher_answers(run_dir))
    return BuiltRun(setup, run_dir, teacher, pool, cache, recorder, loop, state)
