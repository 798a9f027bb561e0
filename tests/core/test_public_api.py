"""pgkd's public API: ``pgkd.__all__`` and ``pgkd.testing.__all__`` hold importable names,
``import pgkd`` stays cheap, and first-party plugins import nothing else of pgkd."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import pgkd
import pgkd.testing

PLUGINS = Path(__file__).parents[2] / "plugins"
PUBLIC_MODULES: dict[str, ModuleType] = {"pgkd": pgkd, "pgkd.testing": pgkd.testing}


def isort_order(name: str) -> tuple[int, str]:
    """ruff's order for ``__all__`` (RUF022): CONSTANTS, then Classes, then the rest."""
    group = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return group, name


@pytest.mark.parametrize("module", PUBLIC_MODULES.values(), ids=list(PUBLIC_MODULES))
def test_all_is_sorted_unique_and_every_name_imports(module: ModuleType) -> None:
    names = list(module.__all__)
    assert names == sorted(set(names), key=isort_order)
    for name in names:
        assert getattr(module, name) is not None, f"{module.__name__}.{name}"
    assert "Student" in dir(pgkd) and "Config" in dir(pgkd)  # lazy names are listed too
    with pytest.raises(AttributeError, match="no attribute 'Loop'"):
        _ = pgkd.Loop  # type: ignore[attr-defined]


def test_import_pgkd_imports_no_heavy_library() -> None:
    heavy = ("torch", "transformers", "numpy", "pydantic", "sklearn")
    code = f"import sys, pgkd; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def private_uses(source: str) -> Iterator[str]:
    """Every use of pgkd in ``source`` beyond the public names: ``from pgkd.x import y``
    of a module that is not public, a name not in that module's ``__all__``, or
    ``pgkd.name`` after ``import pgkd``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "pgkd":
                continue
            public = PUBLIC_MODULES.get(node.module)
            for alias in node.names:
                if public is None or alias.name not in public.__all__:
                    yield f"line {node.lineno}: from {node.module} import {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "pgkd" and alias.name not in PUBLIC_MODULES:
                    yield f"line {node.lineno}: import {alias.name}"
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "pgkd"
            and node.attr not in {*pgkd.__all__, "testing"}
        ):
            yield f"line {node.lineno}: pgkd.{node.attr}"


def test_the_scan_finds_private_uses() -> None:
    source = (
        "import pgkd\nimport pgkd.loop\nfrom pgkd import hookimpl, Loop\n"
        "from pgkd.types import Sample\nfrom pgkd.testing import run, secret\n"
        "def f():\n    from pgkd.students.training import ModelBatch\n"
        "    return pgkd.plugins, pgkd.Sample\n"
    )
    assert sorted(private_uses(source)) == [
        "line 2: import pgkd.loop",
        "line 3: from pgkd import Loop",
        "line 4: from pgkd.types import Sample",
        "line 5: from pgkd.testing import secret",
        "line 7: from pgkd.students.training import ModelBatch",
        "line 8: pgkd.plugins",
    ]


def test_first_party_plugins_use_only_the_public_api() -> None:
    files = sorted(PLUGINS.rglob("*.py"))
    assert len({path.relative_to(PLUGINS).parts[0] for path in files}) >= 3
    found: list[str] = []
    importing = 0
    for path in files:
        source = path.read_text(encoding="utf-8")
        importing += "from pgkd import" in source
        found += [f"{path.relative_to(PLUGINS)} {use}" for use in private_uses(source)]
    assert importing >= 10  # the scan saw the plugins' imports of pgkd
    assert not found, "plugins use pgkd internals:\n" + "\n".join(found)
