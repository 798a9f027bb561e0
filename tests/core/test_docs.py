"""The plugin author docs and the hookspecs agree with the code: every hook with its exact
signature and its combine rule, and the public API as ``__all__`` has it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import pgkd
import pgkd.testing
from pgkd import hookspecs

DOC = Path(__file__).parents[2] / "docs" / "plugins.md"
FIRST = "First non-None wins"
ALL = "All collected"


def specs() -> dict[str, Callable[..., object]]:
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "pgkd_spec")
    }


def spec_signatures() -> dict[str, str]:
    return {
        name: f"{name}({', '.join(inspect.signature(fn).parameters)})"
        for name, fn in specs().items()
    }


def combine_rule(fn: Callable[..., object]) -> str:
    """The phrase a hook's docs must use: its ``firstresult`` flag, read from pluggy."""
    options: dict[str, object] = fn.pgkd_spec  # type: ignore[attr-defined]
    return FIRST if options.get("firstresult") else ALL


def doc_sections() -> dict[str, str]:
    """The text under each ``### `hook(...)` `` heading of docs/plugins.md, by hook name."""
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^(### `\w+\(.*\)`)$", text, flags=re.M)
    sections: dict[str, str] = {}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        name = re.match(r"### `(\w+)\(", heading)
        assert name is not None
        sections[name.group(1)] = re.split(r"^#", body, maxsplit=1, flags=re.M)[0]
    return sections


def says_rule(text: str, rule: str) -> bool:
    """``text`` names ``rule`` and not the other one."""
    other = ALL if rule == FIRST else FIRST
    flat = " ".join(text.split())
    return rule in flat and other not in flat


def test_every_hook_is_documented_with_its_exact_signature() -> None:
    headings = set(re.findall(r"^### `(.+)`$", DOC.read_text(), flags=re.M))
    for name, signature in spec_signatures().items():
        assert signature in headings, f"docs/plugins.md lacks '### `{signature}`' for {name}"


def test_docs_document_no_hook_that_does_not_exist() -> None:
    headings = set(re.findall(r"^### `(\w+)\(", DOC.read_text(), flags=re.M))
    assert headings == set(spec_signatures())


@pytest.mark.parametrize("name", sorted(specs()))
def test_each_hooks_combine_rule_matches_its_firstresult_flag(name: str) -> None:
    fn = specs()[name]
    rule = combine_rule(fn)
    docstring = inspect.getdoc(fn) or ""
    assert says_rule(docstring, rule), f"hookspecs.{name}: the docstring must say {rule!r} only"
    section = doc_sections()[name]
    assert says_rule(section, rule), f"docs/plugins.md {name}: must say {rule!r} only"


def test_a_wrong_combine_rule_is_caught() -> None:
    build_prompt = inspect.getdoc(hookspecs.build_prompt) or ""
    assert combine_rule(hookspecs.build_prompt) == FIRST
    assert not says_rule(build_prompt.replace(FIRST, ALL), FIRST)
    assert not says_rule(f"{build_prompt} {ALL}.", FIRST)  # both rules named: also wrong
    assert combine_rule(hookspecs.on_eval) == ALL


def public_names_in_docs() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"^## The public API$(.*?)^## ", text, flags=re.M | re.S)
    assert match, "docs/plugins.md has no '## The public API' section"
    return set(re.findall(r"`([A-Za-z_][\w.]*)`", match.group(1)))


def names_in_other_docs() -> set[str]:
    """Names in backticks in the other pages of docs/ (the Python API has its own page)."""
    names: set[str] = set()
    for page in DOC.parent.glob("*.md"):
        if page != DOC:
            names |= set(re.findall(r"`([A-Za-z_]\w*)", page.read_text(encoding="utf-8")))
    return names


def test_the_docs_list_the_public_api() -> None:
    listed = public_names_in_docs()
    missing = set(pgkd.__all__) - {"__version__"} - listed - names_in_other_docs()
    assert not missing, f"docs/plugins.md's public API lacks {sorted(missing)}"
    missing = set(pgkd.testing.__all__) - listed
    assert not missing, f"docs/plugins.md's public API lacks pgkd.testing's {sorted(missing)}"
