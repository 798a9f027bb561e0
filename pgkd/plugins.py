"""Builds the pluggy PluginManager: built-ins first, then entry points, then config-named plugins.

pluggy calls the most recently registered implementation first, so anything loaded after the
built-ins (which are also ``trylast`` on first-result hooks) overrides them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, TypeAlias, TypeVar

import pluggy

from pgkd import hookspecs
from pgkd.errors import PluginError
from pgkd.teachers.base import Teacher, TeacherSettings

if TYPE_CHECKING:
    from pgkd.students.base import StudentClass
    from pgkd.tasks.base import TaskFactory

#: What ``register_teachers`` registers for a provider: called with the ``[teacher]``
#: settings, it returns the teacher (a :class:`~pgkd.teachers.base.Teacher` subclass is one).
TeacherFactory: TypeAlias = Callable[[TeacherSettings], Teacher]

_Registered = TypeVar("_Registered")

ENTRY_POINT_GROUP = "pgkd"
#: Comma-separated entry-point names allowed to load; unset loads all, empty loads none.
ALLOW_ENV = "PGKD_PLUGINS"

#: Built-in plugins, by the name ``[plugins] disable`` uses, registered in this order.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("classification", "pgkd.tasks.classification"),
    ("students", "pgkd.students.registry"),
    ("teachers", "pgkd.teachers.registry"),
    ("validation_report", "pgkd.builtin.validation_report"),
    ("few_shot", "pgkd.builtin.selection:FewShotSelector"),
    ("correct_incorrect", "pgkd.builtin.selection:CorrectIncorrectSelector"),
    ("hard_negatives", "pgkd.builtin.selection:HardNegativeMiner"),
    # Before pgkd_prompt: of two trylast built-ins, pluggy asks the one registered first first.
    ("rewrite", "pgkd.builtin.rewrite:RewritePrompt"),
    ("pgkd_prompt", "pgkd.builtin.prompt"),
    ("call_views", "pgkd.builtin.views:CallViews"),
    ("teacher_pool", "pgkd.builtin.generation"),
    ("sample_checks", "pgkd.builtin.sample_checks:SampleChecks"),
    ("dedup", "pgkd.builtin.sample_checks:DuplicateFilter"),
    ("leakage", "pgkd.builtin.sample_checks:LeakageFilter"),
    ("neighbour_vote", "pgkd.builtin.neighbour_vote:NeighbourVote"),
    ("confident_disagreement", "pgkd.builtin.disagreement:ConfidentDisagreement"),
    ("teacher_verification", "pgkd.builtin.verification:TeacherVerification"),
    ("early_stopping", "pgkd.builtin.early_stopping:EarlyStopping"),
    ("cost_stopping", "pgkd.builtin.cost_stopping:CostStopping"),
)

#: Built-ins the loop cannot run without; disabling them is an error, not an ablation.
REQUIRED = frozenset({"classification", "students", "teachers"})


def load_object(ref: str) -> object:
    """Import ``"package.module"`` or ``"package.module:Attribute"``; a class is instantiated."""
    module_name, _, attr = ref.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"plugin {ref!r}: cannot import {module_name!r} ({exc}); "
            "fix the name in [plugins] load or install the package"
        ) from exc
    if attr:
        try:
            obj = getattr(obj, attr)
        except AttributeError as exc:
            raise PluginError(f"plugin {ref!r}: {module_name!r} has no {attr!r}") from exc
        if isinstance(obj, type):
            obj = obj()
    return obj


@dataclass
class Registry:
    """What the registration hooks produced: teacher providers, student kinds and tasks."""

    teachers: dict[str, TeacherFactory] = field(default_factory=dict)
    students: dict[str, StudentClass] = field(default_factory=dict)
    tasks: dict[str, TaskFactory] = field(default_factory=dict)


def allowed_entry_points() -> set[str] | None:
    """Names in ``PGKD_PLUGINS``, or None when the variable is unset (load every entry point)."""
    raw = os.environ.get(ALLOW_ENV)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def build_plugin_manager(
    *,
    disable: Sequence[str] = (),
    load: Sequence[str] = (),
    entry_points_enabled: bool = True,
    extra: Sequence[object] = (),
) -> pluggy.PluginManager:
    """The manager a run uses. ``extra`` plugin objects register last (tests use it)."""
    unknown = set(disable) - {name for name, _ in DEFAULT_PLUGINS}
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    required_off = REQUIRED & set(disable)
    if required_off:
        raise PluginError(
            f"[plugins] disable: {sorted(required_off)} cannot be disabled; the loop needs them"
        )
    for name, ref in DEFAULT_PLUGINS:
        if name in disable:
            pm.set_blocked(name)
            continue
        pm.register(load_object(ref), name=name)
    if entry_points_enabled:
        allowed = allowed_entry_points()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            if ep.name in disable:
                unknown.discard(ep.name)
                continue
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            plugin = ep.load()
            pm.register(plugin() if isinstance(plugin, type) else plugin, name=ep.name)
    for ref in load:
        if pm.get_plugin(ref) is None:
            pm.register(load_object(ref), name=ref)
    for plugin in extra:
        pm.register(plugin)
    if unknown:
        known = ", ".join(name for name, _ in DEFAULT_PLUGINS)
        raise PluginError(
            f"[plugins] disable: unknown plugin(s) {sorted(unknown)}; known built-ins: {known}"
        )
    pm.check_pending()
    return pm


def _adder(target: dict[str, _Registered]) -> Callable[[str, _Registered], None]:
    def register(name: str, factory: _Registered) -> None:
        target[name] = factory

    return register


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Fire the registration hooks: every teacher provider, student kind and task by name."""
    registry = Registry()

    # get_hookimpls() lists trylast built-ins first and the newest plugin last; calling them in
    # that order lets a later registration of the same name replace an earlier one.
    for impl in pm.hook.register_teachers.get_hookimpls():
        impl.function(register=_adder(registry.teachers))
    for impl in pm.hook.register_students.get_hookimpls():
        impl.function(register=_adder(registry.students))
    for impl in pm.hook.register_tasks.get_hookimpls():
        impl.function(register=_adder(registry.tasks))
    return registry


def describe(pm: pluggy.PluginManager) -> list[tuple[str, list[str]]]:
    """(plugin name, hooks it implements) for every loaded plugin, in registration order."""
    rows: list[tuple[str, list[str]]] = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append((name, hooks))
    return rows
