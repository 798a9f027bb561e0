"""Registers the built-in student kinds. A kind's module (and with it torch and transformers) is
imported only when a student of that kind is built or loaded, so ``import pgkd`` stays light."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pgkd.hookspecs import hookimpl
from pgkd.plugins import load_object
from pgkd.students.base import Student, StudentClass, StudentSettings

BUILTIN_STUDENTS: dict[str, str] = {
    "frozen": "pgkd.students.frozen:FrozenEncoderStudent",
    "transformer": "pgkd.students.transformer:TransformerStudent",
}


class LazyStudentClass:
    """Stands in for a student class: calling it builds a student and ``load`` reads one back,
    as the ``register_students`` contract asks, but the class is imported on first use."""

    def __init__(self, kind: str, ref: str) -> None:
        self.kind = kind
        self.ref = ref

    def resolve(self) -> type[Student]:
        module, _, attr = self.ref.partition(":")
        cls: type[Student] = getattr(load_object(module), attr)
        return cls

    def __call__(self, settings: StudentSettings, labels: Sequence[str], seed: int) -> Student:
        return self.resolve()(settings, labels, seed)

    def load(self, directory: Path) -> Student:
        return self.resolve().load(directory)

    def __repr__(self) -> str:
        return f"LazyStudentClass({self.kind!r}, {self.ref!r})"


BUILTIN_CLASSES: dict[str, LazyStudentClass] = {
    kind: LazyStudentClass(kind, ref) for kind, ref in BUILTIN_STUDENTS.items()
}


@hookimpl(trylast=True)
def register_students(register: Callable[[str, StudentClass], None]) -> None:
    for kind, cls in BUILTIN_CLASSES.items():
        register(kind, cls)
