"""docs/python.md runs as written: its ``python`` blocks, in order, in one namespace, inside a
running event loop as in a notebook (top-level ``await`` allowed), with the SIMULATION teacher
and the bundled ticket data. Blocks marked ``not run`` (a hosted LLM, the network) must still
compile and name only what ``pgkd`` exports."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import pgkd

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "python.md"
README = ROOT / "README.md"
FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```$", re.M | re.S)


def blocks(page: Path = DOC) -> list[tuple[str, str]]:
    """(info after ``python``, code) of every python block of ``page``."""
    return [(info.strip(), code) for info, code in FENCE.findall(page.read_text(encoding="utf-8"))]


def compiled(code: str, number: int) -> Any:
    return compile(
        code, f"docs/python.md block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )


def pgkd_names(code: str) -> set[str]:
    tree = ast.parse(code)
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "pgkd"
    }


def test_blocks_that_are_not_run_say_why_compile_and_name_real_api() -> None:
    found = blocks()
    assert len(found) >= 10
    for number, (info, code) in enumerate(found):
        assert info == "" or info.startswith("not run: "), info
        compiled(code, number)
        assert pgkd_names(code) <= set(pgkd.__all__), number


def test_the_readmes_python_section_compiles_and_names_real_api() -> None:
    section = README.read_text(encoding="utf-8").split("## Use from Python", 1)[1]
    section = section.split("\n## ", 1)[0]
    [(_, code)] = FENCE.findall(section)
    compiled(code, 0)
    assert pgkd_names(code) <= set(pgkd.__all__)
    for name in ("summary", "scores", "student"):
        assert hasattr(pgkd.RunResult, name) or name in pgkd.RunResult.__dataclass_fields__


def test_the_python_docs_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    runnable = [(n, code) for n, (info, code) in enumerate(blocks()) if not info]
    namespace: dict[str, Any] = {"__name__": "docs"}

    async def notebook() -> None:
        for number, code in runnable:
            outcome = eval(compiled(code, number), namespace)
            if inspect.iscoroutine(outcome):
                await outcome

    asyncio.run(notebook())
    result = namespace["result"]
    assert result.summary["steps_run"] == 2 and len(result.metrics) == 3
    assert (tmp_path / "runs" / "tickets" / "data" / "train.jsonl").is_file()
    assert {p.label for p in namespace["predictions"]} <= set(result.student.labels)
    assert namespace["probabilities"].shape == (1, len(result.student.labels))
    assert namespace["config"].data.text_field == "message"
    assert namespace["estimate"].calls == 2 and namespace["estimate"].cost_usd == 0.0  # free
    assert namespace["result_hf"].summary["steps_run"] == 1
    assert namespace["awaited"].summary["steps_run"] == 1
    assert (namespace["onnx_folder"] / "model.onnx").is_file()
    assert namespace["rows"] == 120 and (tmp_path / "runs" / "predictions.jsonl").is_file()
    assert not (tmp_path / "runs" / "never").exists()
