"""Every hook pgkd fires, and nothing else.

How async work flows through hooks: pluggy is synchronous, and an ``async def`` hook returns a
coroutine that is never ``None``, which would break ``firstresult``. So hooks are plain
functions. Registration hooks hand back factories whose objects do async work in their methods
(a ``Teacher`` has ``async complete()``). The one hook on the teacher path, ``generate``,
returns an *awaitable* (or ``None`` to decline) and the loop awaits it. ``prepare_call`` is
plain and synchronous: the teacher pool asks it as it issues each call, without waiting.

Results combine in one of two ways, said in each docstring: *first non-None* (the first plugin
that answers wins; pluggy calls the most recently registered plugin first, and built-ins are
registered first and marked ``trylast``, so a user's plugin always overrides them) or *all
collected* (every plugin's answer is used, in call order).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pgkd.fill.pool import Generation, TeacherPool
    from pgkd.plugins import TeacherFactory
    from pgkd.students.base import StudentClass
    from pgkd.tasks.base import TaskFactory
    from pgkd.types import (
        CallPlan,
        Candidate,
        Example,
        JsonValue,
        Prompt,
        Rejection,
        StepContext,
        StepRecord,
        StepVerdict,
    )

hookspec = pluggy.HookspecMarker("pgkd")
hookimpl = pluggy.HookimplMarker("pgkd")


@hookspec
def register_teachers(register: Callable[[str, TeacherFactory], None]) -> None:
    """Register teacher providers. Fires once, when the plugin manager is built.

    Call ``register(provider, factory)`` for each provider; ``factory(settings:
    TeacherSettings)`` returns a :class:`pgkd.Teacher` (a ``Teacher`` subclass is such a
    factory). ``provider`` is the part before the colon in ``[teacher] model =
    "provider:model"``. All collected; a later registration of the same
    name replaces an earlier one, so a user's plugin can replace a built-in provider.
    """


@hookspec
def register_students(register: Callable[[str, StudentClass], None]) -> None:
    """Register student kinds. Fires once, when the plugin manager is built.

    Call ``register(kind, student_class)`` with a :class:`pgkd.StudentClass`:
    ``student_class(settings, labels, seed)`` builds a :class:`pgkd.Student` and
    ``student_class.load(directory)`` reads one back (a ``Student`` subclass is one;
    :class:`pgkd.LazyStudentClass` imports it on first use).
    ``kind`` is ``[student] kind``. All collected; later registrations replace earlier ones.
    """


@hookspec
def register_tasks(register: Callable[[str, TaskFactory], None]) -> None:
    """Register tasks (what a sample is, how it is scored). Fires once.

    Call ``register(name, task_factory)``; ``task_factory()`` returns an object implementing
    :class:`pgkd.Task` (a class implementing it is such a factory). ``name`` is ``[task]
    name``. All collected; later registrations replace earlier ones.
    """


@hookspec
def on_eval(context: StepContext) -> Mapping[str, str] | None:
    """Fires after the current student was evaluated on validation, before a step's examples
    are selected.

    ``context.validation`` holds aggregate validation numbers only. Return a mapping of named
    report sections (text for the prompt, e.g. ``{"validation_report": "..."}``) or ``None``.
    All collected: the mappings are merged into ``context.report``; a user's plugin replaces a
    built-in's section of the same name.
    """


@hookspec
def select_examples(context: StepContext) -> Mapping[str, Sequence[Example]] | None:
    """Fires once per KD step to pick training examples for the prompt.

    ``context.history`` and ``context.train_predictions`` are aligned; return named lists of
    :class:`~pgkd.Example` (e.g. ``{"hard_negatives": [...]}``) or ``None``. All
    collected: merged into ``context.examples``; a user's plugin replaces a built-in's list of
    the same name.
    """


@hookspec(firstresult=True)
def build_prompt(context: StepContext, n_samples: int) -> Prompt | None:
    """Fires once per KD step to write the teacher prompt asking for ``n_samples`` new samples
    per call, from ``context.report`` and ``context.examples``.

    Return a :class:`~pgkd.Prompt`. First non-None wins. The loop checks every prompt
    for validation/test text before any teacher sees it.
    """


@hookspec(firstresult=True)
def generate(
    context: StepContext, prompt: Prompt, pool: TeacherPool, n_samples: int
) -> Awaitable[Generation] | None:
    """Fires once per KD step to obtain ``n_samples`` candidate samples from the teacher.

    ``pool`` wraps the configured teacher with concurrency, retries, caching, accounting and
    the journal; ``pool.fill(prompt, n_samples, context=context)`` is the built-in behaviour.
    Return an awaitable of :class:`~pgkd.Generation` (the loop awaits it), or
    ``None`` to decline. First non-None wins.
    """


@hookspec(firstresult=True)
def prepare_call(
    context: StepContext, prompt: Prompt, call_index: int, n_calls: int, n_samples: int
) -> Prompt | CallPlan | None:
    """Fires in a KD step's fill each time the teacher pool is about to issue a new call, so
    each call can carry its own prompt (and sample count) while the calls still run
    concurrently.

    ``prompt`` is the prompt the fill was given (the step's, from ``build_prompt``);
    ``call_index`` numbers the fill's calls 0, 1, 2, ... in the order they are issued;
    ``n_calls`` is how many calls the fill takes when every call brings what it asks for
    (``ceil(batch / samples_per_call)``), so ``call_index >= n_calls`` is a top-up after
    answers that fell short; ``n_samples`` is what the call would ask for
    (``[teacher] samples_per_call``).

    Return ``None`` to send ``prompt`` unchanged, a :class:`~pgkd.Prompt` to send
    instead, or a :class:`~pgkd.CallPlan` to also set how many samples the call asks for
    (the answer schema and the pool's count of samples on the way follow it). A plan of 0
    samples sends nothing and ends the fill's planning: no new call is issued and the fill
    returns what the calls already issued bring (possibly fewer than the batch).

    The answer holds for the whole call: its transport retries resend the same request and
    its re-asks the same prompt with a note and a new seed, so the response cache and the
    journal stay consistent. A call that gave up (out of retries or re-asks) is replaced by a
    new call with the same plan, without firing this hook again: ``call_index`` counts plans,
    not replacements. A call's prompt that differs from ``prompt`` is checked for
    validation/test text before it is sent, and journaled (a ``call_prompt`` event) before
    its reply is used. Fires only
    for fills given a step context. First non-None wins.
    """


@hookspec
def validate_samples(
    context: StepContext, candidates: Sequence[Candidate]
) -> Sequence[Rejection] | None:
    """Fires once per KD step on the batch the teacher produced, before anything is accepted.

    Return :class:`~pgkd.Rejection` objects for the candidates (by index) that must not
    be trained on, or ``None``. All collected: a candidate is accepted only if no plugin
    rejects it; every reason is journaled. Candidates whose ``sample`` is ``None`` did not parse
    and are rejected by the loop itself.
    """


@hookspec
def on_step_end(context: StepContext, record: StepRecord) -> StepVerdict | None:
    """Fires after the new student of a step was trained and evaluated.

    Return a :class:`~pgkd.StepVerdict`: ``is_best`` marks the new student as the best so
    far (its checkpoint is kept), ``stop`` ends the loop. All collected: any ``stop`` stops; the
    new student is best if any plugin says so, or if no plugin gives an opinion.
    """


@hookspec
def on_run_end(run_dir: Path, summary: Mapping[str, JsonValue]) -> None:
    """Fires once when a run finished (or stopped early) and ``summary.json`` was written.
    All collected; return values are ignored."""
