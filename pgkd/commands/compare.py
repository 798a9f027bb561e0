"""``pgkd compare``: a finished run's best student against its own teacher, on the same texts.

It answers the question a run leaves open: how close is the student to the LLM, and how much
faster is it? Up to ``limit`` texts of a held-out split are drawn (seeded) and labelled twice:
by the run's teacher zero-shot (:func:`pgkd.commands.zeroshot.zero_shot_classify`, with the run's
provider, model, ``base_url``, options and concurrency; keys from the environment as in a run)
and by the run's ``best/`` student (:func:`pgkd.serving.inference.load_predictor`). Both are scored
against the gold labels (accuracy, macro-F1 over the labels the texts have), their agreement is
the share of texts where both give the same label, and each is timed: wall seconds per text,
the student's model load excluded, the teacher's calls run ``concurrency`` at once.

The result is written to ``compare.json`` in the run directory. It names the teacher by
``provider:model`` only: no ``base_url``, no options, so no secret can reach the file.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pgkd.errors import ConfigError, RunDirError
from pgkd.fill.batch_fill import require_batch_api
from pgkd.fill.pricing import batch_price_for, price_for
from pgkd.fill.usage import Usage
from pgkd.store import atomic_write_json
from pgkd.teachers.base import Teacher, TeacherError
from pgkd.teachers.batch_api import BatchApi
from pgkd.teachers.simulation_protocol import SimulationProvider

if TYPE_CHECKING:
    from pgkd.data import Splits

__all__ = ["COMPARE_FILE", "SPLITS", "compare_run", "format_comparison"]

COMPARE_FILE = "compare.json"
SPLITS = ("test", "validation")


@dataclass(frozen=True, slots=True)
class Drawn:
    """The texts compared and where they came from."""

    split: str
    texts: list[str]
    gold: list[str]
    labels: tuple[str, ...]
    note: str | None


def compare_run(
    run_dir: Path,
    *,
    split: str = "test",
    limit: int = 200,
    seed: int = 0,
    teacher: Teacher | None = None,
    teacher_model: str | None = None,
    base_url: str | None = None,
    batch: bool | None = None,
    extra_plugins: Sequence[object] = (),
    entry_points_enabled: bool = True,
) -> dict[str, Any]:
    """Compare the run's best student with its teacher; writes and returns ``compare.json``.

    ``teacher_model`` (``provider:model``, with ``base_url`` for an OpenAI-compatible server)
    compares against another LLM than the run's; ``teacher`` replaces the teacher object
    outright (tests). ``batch`` asks through the provider's batch API, at its price (default:
    the run's ``[teacher] batch``).
    """
    from pgkd.build import build_setup, make_teacher
    from pgkd.progress import Progress
    from pgkd.rundir.directory import RunDirectory

    if split not in SPLITS:
        raise ConfigError(f"--split {split}: use one of {', '.join(SPLITS)}")
    if limit < 1:
        raise ConfigError(f"--limit {limit}: compare at least 1 text")
    run = RunDirectory(Path(run_dir))
    config = run.load_config()
    if config.task.name != "classification":
        raise RunDirError(
            f"{run.path}: a {config.task.name!r} run has no single label per text to compare; "
            "`pgkd compare` works on classification runs"
        )
    if teacher_model is not None or base_url is not None:
        changes = {"model": teacher_model or config.teacher.model, "base_url": base_url}
        config = config.model_copy(update={"teacher": _teacher_config(config, changes)})
    setup = build_setup(
        config,
        progress=Progress.auto(quiet=True),
        extra_plugins=extra_plugins,
        entry_points_enabled=entry_points_enabled,
    )
    drawn = draw_texts(setup.splits, split, limit, seed)
    student = _student_labels(run.best_path, drawn.texts)
    model = config.teacher.model
    if teacher is None:
        teacher = make_teacher(config, setup.registry)
    else:
        model = teacher.name
    if isinstance(teacher, SimulationProvider):
        raise ConfigError(
            f"{model}: a SIMULATION teacher hands out prepared samples and cannot label a text; "
            "compare against an LLM with --teacher provider:model (and --base-url)"
        )
    use_batch = config.teacher.batch if batch is None else batch
    api = require_batch_api(teacher) if use_batch else None
    pricing = batch_price_for if use_batch else price_for
    usage = Usage(price=pricing(teacher.settings, type(teacher)))
    concurrency = config.teacher.concurrency
    started = time.perf_counter()
    retries = config.teacher.max_retries
    poll = config.teacher.batch_poll_seconds
    predicted = asyncio.run(
        _teacher_labels(teacher, drawn, concurrency, seed, usage, retries, api, poll)
    )
    teacher_seconds = time.perf_counter() - started
    result = _result(drawn, seed, model, predicted, teacher_seconds, usage, student)
    result["teacher"]["batch"] = use_batch
    atomic_write_json(run.path / COMPARE_FILE, result)
    return result


def _teacher_config(config: Any, changes: dict[str, Any]) -> Any:
    """The run's ``[teacher]`` with ``changes``, validated as a config file's would be."""
    from pgkd.config import config_from_mapping

    raw = config.model_dump()
    raw["teacher"].update({k: v for k, v in changes.items() if v is not None})
    return config_from_mapping(raw, source="--teacher/--base-url").teacher


def draw_texts(splits: Splits, split: str, limit: int, seed: int) -> Drawn:
    """Up to ``limit`` texts of ``split`` (seeded); validation when the run has no test split."""
    samples, note = (splits.test, None) if split == "test" else (splits.validation, None)
    if split == "test" and not samples:
        split, samples = "validation", splits.validation
        note = "the run has no test split ([data] test); compared on its validation split"
    chosen = random.Random(seed).sample(list(samples), min(limit, len(samples)))
    return Drawn(
        split=split,
        texts=[s.text for s in chosen],
        gold=[str(s.target) for s in chosen],
        labels=splits.labels,
        note=note,
    )


def _student_labels(best: Path, texts: Sequence[str]) -> tuple[list[str], float]:
    """The student's label for each text and the wall seconds predicting took (load excluded)."""
    from pgkd.serving.inference import RecordPredictor, load_predictor

    predictor = load_predictor(best)
    if isinstance(predictor, RecordPredictor):
        raise RunDirError(f"{best}: the student writes records, not labels; nothing to compare")
    started = time.perf_counter()
    probabilities = predictor.predict_proba(texts)
    seconds = time.perf_counter() - started
    labels = predictor.labels
    return [labels[int(i)] for i in np.argmax(probabilities, axis=1)], seconds


async def _teacher_labels(
    teacher: Teacher,
    drawn: Drawn,
    concurrency: int,
    seed: int,
    usage: Usage,
    max_retries: int,
    batch: BatchApi | None = None,
    poll_seconds: float = 30.0,
) -> list[str]:
    from pgkd.commands.zeroshot import zero_shot_classify
    from pgkd.fill.pool import TeacherFailed
    from pgkd.teachers.secrets import one_line

    try:
        return await zero_shot_classify(
            teacher,
            drawn.texts,
            drawn.labels,
            concurrency=concurrency,
            seed=seed,
            usage=usage,
            max_retries=max_retries,
            batch=batch,
            poll_seconds=poll_seconds,
        )
    except TeacherError as exc:
        raise TeacherFailed(
            f"teacher {teacher.name}: {one_line(str(exc))}; check [teacher] in config.toml "
            "and the key in the environment"
        ) from exc
    finally:
        await teacher.aclose()


def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Accuracy, and macro-F1 over the labels present in ``gold`` (no label is just wrong)."""
    from sklearn.metrics import f1_score

    present = sorted(set(gold))
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(1, len(gold))
    macro = f1_score(gold, predicted, labels=present, average="macro", zero_division=0)
    return {"accuracy": float(accuracy), "macro_f1": float(macro)}


def _result(
    drawn: Drawn,
    seed: int,
    model: str,
    teacher_labels: list[str],
    teacher_seconds: float,
    usage: Usage,
    student: tuple[list[str], float],
) -> dict[str, Any]:
    student_labels, student_seconds = student
    n = len(drawn.texts)
    teacher_per_text = teacher_seconds / max(1, n)
    student_per_text = student_seconds / max(1, n)
    agree = sum(s == t for s, t in zip(student_labels, teacher_labels, strict=True))
    totals = usage.totals()
    return {
        "split": drawn.split,
        "texts": n,
        "seed": seed,
        "note": drawn.note,
        "teacher": {
            "model": model,
            **scores(drawn.gold, teacher_labels),
            "no_label": sum(not label for label in teacher_labels),
            "seconds_per_text": teacher_per_text,
            "calls": totals.calls,
            "failed_calls": totals.failed_calls,
            "retries": totals.retries,
            "input_tokens": totals.input_tokens,
            "output_tokens": totals.output_tokens,
            "cost_usd": totals.cost_usd,
        },
        "student": {**scores(drawn.gold, student_labels), "seconds_per_text": student_per_text},
        "agreement": agree / max(1, n),
        "speedup": teacher_per_text / student_per_text if student_per_text > 0 else None,
    }


def format_comparison(result: dict[str, Any], run_dir: Path) -> str:
    """The comparison as the small table ``pgkd compare`` prints."""
    teacher, student = result["teacher"], result["student"]
    speedup = result.get("speedup")
    rows = [
        ("", "accuracy", "macro-F1", "s / text"),
        ("teacher", *_row(teacher)),
        ("student", *_row(student)),
    ]
    title = f"Student vs teacher ({teacher['model']}) on {result['texts']} {result['split']} texts"
    lines = ["", title]
    if result.get("note"):
        lines.append(f"  note: {result['note']}")
    lines += [f"  {name:<9}{a:>10}{b:>10}{c:>12}" for name, a, b, c in rows]
    lines += [
        f"  agreement {100 * result['agreement']:.1f}% of texts get the same label from both",
        "  speed-up  " + (f"student {speedup:,.1f}x faster per text" if speedup else "-"),
        f"  teacher   {teacher['calls']} calls, {teacher['failed_calls']} failed, "
        f"{teacher['input_tokens']} in / {teacher['output_tokens']} out tokens"
        + (f", ${teacher['cost_usd']:.4f}" if teacher.get("cost_usd") else ""),
        f"  written   {run_dir / COMPARE_FILE}",
    ]
    return "\n".join(lines)


def _row(block: dict[str, Any]) -> tuple[str, str, str]:
    return (
        f"{block['accuracy']:.3f}",
        f"{block['macro_f1']:.3f}",
        f"{block['seconds_per_text']:.4f}",
    )
