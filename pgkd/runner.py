"""Wires a config into a run: run directory, data, plugins, student, teacher pool, then the loop.

Everything a run learns or pays for is written to the run directory before it is used.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass, replace
from pathlib import Path
from typing import Any

import pluggy

from pgkd.config import Config, config_from_mapping, dump_toml
from pgkd.data import Splits, prepare_splits
from pgkd.errors import ConfigError, PluginError, RunDirError
from pgkd.fill.cache import ResponseCache
from pgkd.fill.pool import TeacherPool
from pgkd.fill.usage import Usage
from pgkd.guard import HeldOutGuard
from pgkd.loop import Loop, LoopState, Trained, call_preparer
from pgkd.plugins import Registry, build_plugin_manager, build_registry
from pgkd.progress import Progress
from pgkd.report import confusion_record, write_report
from pgkd.store import (
    JsonlLog,
    atomic_replace_dir,
    atomic_write_bytes,
    atomic_write_json,
    read_jsonl,
    recover_dir,
)
from pgkd.students.base import Student, StudentSettings
from pgkd.students.history_predictions import choose_kind, describe, predict_history
from pgkd.teachers.base import Teacher, TeacherSettings
from pgkd.types import Candidate, Prompt, Rejection, Sample

CONFIG_FILE = "config.toml"
JOURNAL_FILE = "journal.jsonl"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
INPUTS_FILE = "inputs.json"
BEST_DIR = "best"
CACHE_FILE = "cache.sqlite"
EMBEDDINGS_FILE = "embeddings.sqlite"


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


def build_plugins(
    config: Config, extra: Sequence[object] = (), entry_points_enabled: bool = True
) -> tuple[pluggy.PluginManager, Registry]:
    pm = build_plugin_manager(
        disable=config.plugins.disable,
        load=config.plugins.load,
        extra=extra,
        entry_points_enabled=entry_points_enabled,
    )
    return pm, build_registry(pm)


def make_teacher(config: Config, registry: Registry) -> Teacher:
    provider = config.teacher.provider
    factory = registry.teachers.get(provider)
    if factory is None:
        known = ", ".join(sorted(registry.teachers))
        raise ConfigError(f"[teacher] model: unknown provider {provider!r}; use one of: {known}")
    teacher: Teacher = factory(teacher_settings(config))
    return teacher


def fingerprint_inputs(config: Config) -> dict[str, str | None]:
    """SHA-256 of each data file, so a resume can prove it trains on the same data."""
    out: dict[str, str | None] = {}
    for key in ("train", "validation", "test"):
        path = getattr(config.data, key)
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else None
    return out


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, e.g. ``["kd.steps (10 -> 5)"]``."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in config_diff(old.get(k), new.get(k), f"{prefix}{k}.")]
    if old != new:
        return [f"{prefix.rstrip('.')} ({old!r} -> {new!r})"]
    return []


class RunDirectory:
    """The files of one run; see :mod:`pgkd.store` for the layout."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    def check_new(self, *, overwrite: bool) -> None:
        """Refuse to mix two runs in one place (no side effects)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: is a file; pick a folder for --out")
        if self.path.exists() and any(self.path.iterdir()):
            if not self.config_path.exists() and not overwrite:
                raise RunDirError(
                    f"{self.path}: folder is not empty and holds no pgkd run; pick another --out"
                )
            if not overwrite:
                raise RunDirError(
                    f"{self.path}: already holds a run; use `pgkd resume {self.path}` to continue "
                    "it, or pass --overwrite to start over"
                )

    def create(self, config: Config, *, overwrite: bool) -> None:
        """Create the directory for a new run and write its resolved config."""
        self.check_new(overwrite=overwrite)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.config_path, dump_toml(config.to_toml_dict()).encode())
        atomic_write_json(self.path / INPUTS_FILE, fingerprint_inputs(config))

    def check_resumable(self, config: Config, changed: Config | None) -> None:
        """Refuse to resume when the config or the data files differ from the run's."""
        if changed is not None:
            diff = config_diff(config.to_toml_dict(), changed.to_toml_dict())
            if diff:
                raise RunDirError(
                    f"{self.path}: the config changed since the run started ({', '.join(diff)}); "
                    "resume with the original config or start a new run"
                )
        recorded = self.path / INPUTS_FILE
        if recorded.exists():
            before = json.loads(recorded.read_text(encoding="utf-8"))
            now = fingerprint_inputs(config)
            moved = [key for key in before if before[key] != now.get(key)]
            if moved:
                raise RunDirError(
                    f"{self.path}: data changed since the run started ([data] {', '.join(moved)}); "
                    "restore the original files or start a new run"
                )

    def load_config(self) -> Config:
        import tomllib

        if not self.config_path.exists():
            raise RunDirError(f"{self.path}: no {CONFIG_FILE}; this is not a pgkd run directory")
        raw = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        return config_from_mapping(raw, source=str(self.config_path))

    def metrics(self) -> list[dict[str, Any]]:
        """Metric lines by step; a step journaled twice (a resume) keeps its last line."""
        by_step = {int(r["step"]): r for r in read_jsonl(self.path / METRICS_FILE) if "step" in r}
        return [by_step[s] for s in sorted(by_step)]


class Recorder:
    """The loop's side effects: journal, metrics, best checkpoint."""

    def __init__(self, run_dir: RunDirectory, task: Any, progress: Progress) -> None:
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


def make_trainer(
    config: Config,
    registry: Registry,
    task: Any,
    splits: Splits,
    progress: Progress,
    store: Path | None = None,
) -> Callable[[list[Sample]], Trained]:
    kind = config.student.kind
    student_class = registry.students.get(kind)
    if student_class is None:
        known = ", ".join(sorted(registry.students))
        raise ConfigError(f"[student] kind: unknown student {kind!r}; use one of: {known}")
    settings = student_settings(config)
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


def _accepted_history(run_dir: RunDirectory, task: Any, last_step: int) -> list[Sample]:
    """Accepted teacher samples of completed steps, in journal order; a step re-run after a
    resume keeps only its last batch."""
    batches: dict[int, list[dict[str, Any]]] = {}
    for event in read_jsonl(run_dir.path / JOURNAL_FILE):
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


def _teacher_answers(run_dir: RunDirectory) -> list[str]:
    """The text of every answer the teacher sent in this run, in journal order (cache hits
    replay an earlier answer and are left out)."""
    return [
        str(event.get("text", ""))
        for event in read_jsonl(run_dir.path / JOURNAL_FILE)
        if event.get("event") == "teacher_call" and event.get("ok") and not event.get("cached")
    ]


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
) -> dict[str, Any]:
    pm, registry = build_plugins(config, extra_plugins, entry_points_enabled)
    task_factory = registry.tasks.get(config.task.name)
    if task_factory is None:
        raise ConfigError(
            f"[task] name: unknown task {config.task.name!r}; use one of: "
            + ", ".join(sorted(registry.tasks))
        )
    task = task_factory()
    progress.stage("loading data")
    splits = prepare_splits(config.data, task, config.kd.seed)
    heldout = [s.text for s in (*splits.validation, *splits.test, *splits.loop_test)]
    guard = HeldOutGuard(heldout, near_copy_threshold=config.kd.near_copy_threshold)
    store = run_dir.path / EMBEDDINGS_FILE
    train = make_trainer(config, registry, task, splits, progress, store)
    teacher = make_teacher(config, registry)
    if not resume:
        run_dir.create(config, overwrite=overwrite)
    recorder = Recorder(run_dir, task, progress)
    usage = Usage()
    cache = ResponseCache(run_dir.path / CACHE_FILE) if config.teacher.cache else None
    pool = TeacherPool(
        teacher,
        task=task,
        labels=splits.labels,
        concurrency=config.teacher.concurrency,
        samples_per_call=config.teacher.samples_per_call,
        max_retries=config.teacher.max_retries,
        max_reasks=config.teacher.max_reasks,
        usage=usage,
        journal=recorder.journal,
        cache=cache,
        progress=progress.fill_callback(),
        seed=config.kd.seed,
        prepare_call=call_preparer(pm, guard),
        **pool_limits(config),
    )
    loop = Loop(
        pm=pm,
        task=task,
        labels=splits.labels,
        settings=config,
        seed=config.kd.seed,
        steps=config.kd.steps,
        batch_size=config.kd.batch_size,
        samples_per_call=config.teacher.samples_per_call,
        pool=pool,
        guard=guard,
        train_student=train,
        recorder=recorder,
    )
    state = LoopState(history=list(splits.train))
    if resume:
        recover_dir(run_dir.path / BEST_DIR)
        _restore(run_dir, task, state)
        teacher.restore(_teacher_answers(run_dir))
    progress.begin(config, splits)
    try:
        state = await loop.run(state)
    finally:
        recorder.close()
        await teacher.aclose()
        if cache is not None:
            cache.close()
    summary = summarize(run_dir, state, usage)
    summary["task"] = config.task.name
    summary["guarantees"] = {
        "prompts_checked_for_heldout_text": True,
        "heldout_texts_guarded": len(guard),
    }
    atomic_write_json(run_dir.path / SUMMARY_FILE, summary)
    write_report(run_dir.path)
    pm.hook.on_run_end(run_dir=run_dir.path, summary=summary)
    return summary


def pool_limits(config: Config) -> dict[str, Any]:
    t = config.teacher
    return {
        "max_cost_usd": t.max_cost_usd,
        "max_calls": t.max_calls,
        "requests_per_minute": t.requests_per_minute,
        "tokens_per_minute": t.tokens_per_minute,
    }


def _restore(run_dir: RunDirectory, task: Any, state: LoopState) -> None:
    lines = run_dir.metrics()
    if not lines:
        return
    state.val_losses = [float(line["val"]["loss"]) for line in lines]
    state.steps_run = int(lines[-1]["step"])
    best = [line["step"] for line in lines if line.get("is_best") or line["step"] == 0]
    state.best_step = int(best[-1])
    state.history.extend(_accepted_history(run_dir, task, state.steps_run))
    state.run_state = _last_run_state(run_dir, state.steps_run)


def _last_run_state(run_dir: RunDirectory, last_step: int) -> dict[str, Any]:
    """Plugins' ``run_state`` as completed step ``last_step`` (or the latest before it) left
    it; a step that did not complete may have journaled one, which is ignored."""
    by_step: dict[int, dict[str, Any]] = {}
    for event in read_jsonl(run_dir.path / JOURNAL_FILE):
        if event.get("event") == "run_state" and int(event["step"]) <= last_step:
            by_step[int(event["step"])] = dict(event.get("state") or {})
    return by_step[max(by_step)] if by_step else {}


def run(
    config: Config,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
) -> dict[str, Any]:
    """Start a new run in ``out``; returns the summary."""
    run_dir = RunDirectory(out)
    run_dir.check_new(overwrite=overwrite)
    return asyncio.run(
        execute(
            config,
            run_dir,
            resume=False,
            overwrite=overwrite,
            progress=progress or Progress.auto(),
            extra_plugins=extra_plugins,
            entry_points_enabled=entry_points_enabled,
        )
    )


def resume(
    out: Path,
    *,
    changed: Config | None = None,
    progress: Progress | None = None,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
) -> dict[str, Any]:
    """Continue the run in ``out`` from its last completed step."""
    run_dir = RunDirectory(out)
    config = run_dir.load_config()
    run_dir.check_resumable(config, changed)
    return asyncio.run(
        execute(
            config,
            run_dir,
            resume=True,
            progress=progress or Progress.auto(),
            extra_plugins=extra_plugins,
            entry_points_enabled=entry_points_enabled,
        )
    )


__all__ = ["PluginError", "RunDirectory", "resume", "run"]
