from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import cast

import pluggy
import pytest

from pgkd import hookspecs
from pgkd.config import config_from_mapping
from pgkd.errors import PluginError
from pgkd.hookspecs import hookimpl
from pgkd.loop import Loop
from pgkd.plugins import DEFAULT_PLUGINS, build_plugin_manager, build_registry, describe
from pgkd.tasks.classification import ClassificationTask
from pgkd.types import Candidate, Evaluation, Prompt, Rejection, Sample, StepContext

HOOKS = [
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "pgkd_spec")
]


def test_every_hook_documents_when_it_fires_and_how_results_combine() -> None:
    assert {
        "on_eval",
        "select_examples",
        "build_prompt",
        "generate",
        "validate_samples",
        "on_step_end",
    } <= set(HOOKS)
    for name in HOOKS:
        doc = " ".join((inspect.getdoc(getattr(hookspecs, name)) or "").split())
        assert "Fires" in doc or "fires" in doc, name
        assert "First non-None" in doc or "All collected" in doc, name


def test_builtins_register_in_order_and_can_be_disabled() -> None:
    pm = build_plugin_manager(entry_points_enabled=False)
    names = [name for name, _ in describe(pm)]
    assert names == [name for name, _ in DEFAULT_PLUGINS]
    pm = build_plugin_manager(
        disable=["hard_negatives", "validation_report"], entry_points_enabled=False
    )
    names = [name for name, _ in describe(pm)]
    assert "hard_negatives" not in names and "validation_report" not in names


def test_unknown_or_required_disable_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match=r"unknown plugin\(s\) \['hard_negativs'\]"):
        build_plugin_manager(disable=["hard_negativs"], entry_points_enabled=False)
    with pytest.raises(PluginError, match="cannot be disabled"):
        build_plugin_manager(disable=["teachers"], entry_points_enabled=False)


def test_a_users_plugin_replaces_the_builtin_prompt() -> None:
    class MyPrompt:
        @hookimpl
        def build_prompt(self, context: StepContext, n_samples: int) -> Prompt:
            return Prompt("sys", f"mine {n_samples}")

    pm = build_plugin_manager(entry_points_enabled=False, extra=[MyPrompt()])
    result = pm.hook.build_prompt(context=None, n_samples=4)
    assert result == Prompt("sys", "mine 4")


def test_a_users_plugin_replaces_a_builtin_teacher_and_adds_its_own() -> None:
    class Teachers:
        @hookimpl
        def register_teachers(self, register: object) -> None:
            register("openai", "replaced")  # type: ignore[operator]
            register("mine", "new")  # type: ignore[operator]

    registry = build_registry(build_plugin_manager(entry_points_enabled=False, extra=[Teachers()]))
    assert registry.teachers["openai"] == "replaced"
    assert registry.teachers["mine"] == "new"
    assert {"anthropic", "bedrock", "local", "pool"} <= set(registry.teachers)
    assert {"frozen", "transformer"} <= set(registry.students)
    assert "classification" in registry.tasks


def test_misspelt_hook_is_refused() -> None:
    class Typo:
        @hookimpl
        def build_promt(self, context: object) -> None:
            return None

    with pytest.raises(Exception, match="build_promt"):
        build_plugin_manager(entry_points_enabled=False, extra=[Typo()])


def test_plugins_named_in_config_load_by_import_path() -> None:
    pm = build_plugin_manager(
        entry_points_enabled=False, load=["pgkd.builtin.selection:HardNegativeMiner"]
    )
    assert any(name == "pgkd.builtin.selection:HardNegativeMiner" for name, _ in describe(pm))
    with pytest.raises(PluginError, match="cannot import 'no_such_module'"):
        build_plugin_manager(entry_points_enabled=False, load=["no_such_module"])


def validate(pm: pluggy.PluginManager, candidates: list[Candidate]) -> dict[int, list[Rejection]]:
    """The loop's validation of a batch: only ``Loop._validate`` and its plugin manager."""
    ctx = StepContext(
        step=1,
        task=ClassificationTask(),
        labels=("a", "b"),
        history=[Sample("already seen", "a")],
        train_predictions=[],
        validation=Evaluation(loss=1.0, metrics={}, per_class={}),
        settings=config_from_mapping({"data": {"train": "t.jsonl"}}),
        seed=0,
    )
    loop = cast(Loop, SimpleNamespace(pm=pm))
    accepted, rejections = Loop._validate(loop, ctx, candidates)
    assert [s.text for s in accepted] == [
        c.sample.text for i, c in enumerate(candidates) if c.sample and i not in rejections
    ]
    return rejections


def test_rejections_stay_objects_from_the_plugins_to_the_journal() -> None:
    class Picky:
        @hookimpl
        def validate_samples(self, context: StepContext, candidates: list[Candidate]) -> object:
            return [Rejection(2, "not_mine", "too plain")]

    pm = build_plugin_manager(entry_points_enabled=False, extra=[Picky()])
    batch = [
        Candidate({"x": 1}, None, "missing field(s) text"),
        Candidate({}, Sample("Already seen!", "a")),
        Candidate({}, Sample("a plain new text", "b")),
        Candidate({}, Sample("a fine new text", "b")),
    ]
    rejections = validate(pm, batch)
    assert rejections == {
        0: [Rejection(0, "unparsable", "missing field(s) text")],
        1: [Rejection(1, "duplicate_of_history")],
        2: [Rejection(2, "not_mine", "too plain")],
    }


def test_a_validator_that_returns_no_rejection_objects_is_named() -> None:
    class Sloppy:
        @hookimpl
        def validate_samples(self, context: StepContext, candidates: list[Candidate]) -> object:
            return ["duplicate: of sample 0"]

    pm = build_plugin_manager(entry_points_enabled=False, extra=[Sloppy()])
    with pytest.raises(PluginError, match="returned a str; return Rejection"):
        validate(pm, [Candidate({}, Sample("a text", "a"))])
