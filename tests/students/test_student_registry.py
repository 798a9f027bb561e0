from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from pgkd import hookspecs
from pgkd.errors import RunDirError
from pgkd.hookspecs import hookimpl
from pgkd.plugins import build_registry
from pgkd.students import registry
from pgkd.students.base import StudentSettings
from pgkd.students.frozen import FrozenEncoderStudent
from pgkd.students.loading import MARKER, load_student
from pgkd.students.transformer import TransformerStudent


class CustomFrozen(FrozenEncoderStudent):
    kind = "frozen"


class UserStudents:
    @hookimpl
    def register_students(self, register: Callable[[str, Callable[..., Any]], None]) -> None:
        register("frozen", CustomFrozen)


def registered(*plugins: object) -> dict[str, Any]:
    pm = pluggy.PluginManager("pgkd")
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return build_registry(pm).students


def test_builtins_build_and_load_through_lazy_classes(tiny_bert: Path) -> None:
    students = registered(registry)
    assert set(students) == {"frozen", "transformer"}
    settings = StudentSettings(kind="frozen", backbone=str(tiny_bert))
    assert isinstance(students["frozen"](settings, ["a", "b"], 0), FrozenEncoderStudent)
    settings = StudentSettings(kind="transformer", backbone=str(tiny_bert))
    assert isinstance(students["transformer"](settings, ["a", "b"], 0), TransformerStudent)
    assert students["frozen"].resolve() is FrozenEncoderStudent


def test_a_user_plugin_replaces_a_builtin_kind() -> None:
    students = registered(registry, UserStudents())
    assert students["frozen"] is CustomFrozen
    assert isinstance(students["transformer"], registry.LazyStudentClass)


def test_load_student_uses_registered_kinds(
    tiny_bert: Path, toy_samples: Callable[[int, int], Sequence[Any]], tmp_path: Path
) -> None:
    settings = StudentSettings(kind="frozen", backbone=str(tiny_bert), threads=1)
    student = FrozenEncoderStudent(settings, ["sports", "finance"], 0)
    student.fit(toy_samples(20, 1), [])
    student.save(tmp_path)
    assert type(load_student(tmp_path, {"frozen": CustomFrozen})) is CustomFrozen


def test_load_student_rejects_an_unknown_kind(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text(json.dumps({"kind": "crystal-ball"}))
    with pytest.raises(RunDirError, match="'crystal-ball' is not registered"):
        load_student(tmp_path)
