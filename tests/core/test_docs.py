"""The plugin author docs list every hook with its exact signature."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pgkd import hookspecs

DOC = Path(__file__).parents[2] / "docs" / "plugins.md"


def spec_signatures() -> dict[str, str]:
    out = {}
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if hasattr(fn, "pgkd_spec"):
            out[name] = f"{name}({', '.join(inspect.signature(fn).parameters)})"
    return out


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    headings = set(re.findall(r"^### `(.+)`$", DOC.read_text(), flags=re.M))
    for name, signature in spec_signatures().items():
        assert signature in headings, f"docs/plugins.md lacks '### `{signature}`' for {name}"


def test_docs_document_no_hook_that_does_not_exist() -> None:
    headings = set(re.findall(r"^### `(\w+)\(", DOC.read_text(), flags=re.M))
    assert headings == set(spec_signatures())
