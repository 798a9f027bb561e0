"""What a saved student directory holds, and loading one without knowing its kind.

Every ``save`` writes ``pgkd_student.json``: the kind, the labels in column order, the seed and
the ``[student]`` settings, so ``pgkd predict MODEL_DIR`` can pick the right class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from pgkd.errors import RunDirError
from pgkd.students.base import ClassifierStudent, Student, StudentClass, StudentSettings

MARKER = "pgkd_student.json"
FORMAT_VERSION = 1


def settings_to_dict(settings: StudentSettings) -> dict[str, Any]:
    data = {f.name: getattr(settings, f.name) for f in fields(settings)}
    data["options"] = dict(settings.options)
    return data


def settings_from_dict(data: Mapping[str, Any]) -> StudentSettings:
    known = {f.name for f in fields(StudentSettings)}
    return StudentSettings(**{key: value for key, value in data.items() if key in known})


def write_marker(
    directory: Path,
    kind: str,
    labels: Sequence[str],
    settings: StudentSettings,
    seed: int,
    **extra: Any,
) -> None:
    record = {
        "kind": kind,
        "format": FORMAT_VERSION,
        "labels": list(labels),
        "seed": seed,
        "settings": settings_to_dict(settings),
        **extra,
    }
    (directory / MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def read_marker(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MARKER
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(
            f"{path}: missing; point at a directory a pgkd student was saved to (a run's best/)"
        ) from None
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); save the student again") from exc
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        raise RunDirError(f'{path}: no "kind" key; save the student again')
    return record


def load_saved_student(directory: Path, kinds: Mapping[str, StudentClass] | None = None) -> Student:
    """Load whatever student ``directory`` holds, of any task. ``kinds`` maps kind names to
    registered student classes (the plugin registry); the built-ins are used otherwise."""
    from pgkd.students.registry import BUILTIN_CLASSES

    directory = Path(directory)
    kind = read_marker(directory)["kind"]
    available: dict[str, StudentClass] = {**BUILTIN_CLASSES, **(kinds or {})}
    if kind not in available:
        raise RunDirError(
            f"{directory / MARKER}: student kind {kind!r} is not registered; "
            "install the plugin that provides it (and name it in PGKD_PLUGINS if that is set; "
            f"known: {', '.join(sorted(available))})"
        )
    return available[kind].load(directory)


def load_student(
    directory: Path, kinds: Mapping[str, StudentClass] | None = None
) -> ClassifierStudent:
    """Load the classifier student ``directory`` holds (see :func:`load_saved_student`)."""
    student = load_saved_student(directory, kinds)
    if not isinstance(student, ClassifierStudent):
        raise RunDirError(f"{directory}: kind {student.kind!r} is not a text classifier student")
    return student
