"""Registers the built-in teacher providers. Provider SDKs are imported only when a teacher of
that provider is built, so ``import pgkd`` stays light."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pgkd.hookspecs import hookimpl
from pgkd.plugins import load_object
from pgkd.teachers.base import Teacher, TeacherSettings

BUILTIN_TEACHERS: dict[str, str] = {
    "openai": "pgkd.teachers.openai_teacher:OpenAITeacher",
    "anthropic": "pgkd.teachers.anthropic_teacher:AnthropicTeacher",
    "bedrock": "pgkd.teachers.bedrock_teacher:BedrockTeacher",
    "local": "pgkd.teachers.local:LocalTeacher",
    "simulation": "pgkd.teachers.simulation:SimulationTeacher",
    # The SIMULATION teacher's older name.
    "pool": "pgkd.teachers.simulation:SimulationTeacher",
}


def provider_class(provider: str) -> type[Teacher]:
    """The class of a built-in provider (its module imported now), else the base class, whose
    class methods (options, price override) serve providers registered by plugins."""
    ref = BUILTIN_TEACHERS.get(provider)
    if ref is None:
        return Teacher
    module, _, attr = ref.partition(":")
    cls: type[Teacher] = getattr(load_object(module), attr)
    return cls


def _lazy(provider: str) -> Callable[[TeacherSettings], Teacher]:
    def build(settings: TeacherSettings) -> Teacher:
        return provider_class(provider)(settings)

    return build


@hookimpl(trylast=True)
def register_teachers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    for provider in BUILTIN_TEACHERS:
        register(provider, _lazy(provider))
