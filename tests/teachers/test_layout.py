"""Providers apart from the engine: nothing under ``pgkd/teachers`` imports ``pgkd.fill``.

A provider knows its wire protocol; the engine (pool, retries, accounting, cache, journal)
calls it. The dependency runs one way, so a new provider never needs the engine to compile,
and the engine can change without touching a provider. Imports inside functions count.
"""

from __future__ import annotations

from tests.core.test_structure import PACKAGE, imports_of, modules


def test_no_provider_module_imports_the_fill_engine() -> None:
    known = set(modules())
    offenders = {
        name: sorted(m for m in imports_of(name, path, known) if m.startswith("pgkd.fill"))
        for name, path in modules().items()
        if name.startswith("pgkd.teachers")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
    assert "pgkd.teachers.openai_teacher" in offenders  # the walk saw the providers


def test_the_engine_reads_answers_and_the_providers_shape_them() -> None:
    known = set(modules())
    assert "pgkd.fill.answer" in imports_of("pgkd.fill.call", PACKAGE / "fill" / "call.py", known)
    assert "pgkd.teachers.answer_format" in imports_of(
        "pgkd.teachers.anthropic_teacher", PACKAGE / "teachers" / "anthropic_teacher.py", known
    )
