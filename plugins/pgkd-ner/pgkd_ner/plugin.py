"""The hooks: the ``ner`` task, the ``ner-token`` student, the entity report, the prompt, and
the ``ner-pool`` simulation teacher.

``on_eval`` and ``build_prompt`` answer only when the run's task is NER, so installing this
plugin leaves classification runs untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pgkd import LazyStudentClass, Prompt, StepContext, hookimpl

from pgkd_ner.prompt import REPORT_KEY, render_ner_prompt
from pgkd_ner.report import render_entity_report
from pgkd_ner.simulation import PROVIDER, HeldOutNerTeacher
from pgkd_ner.task import NAME, NerTask

#: ``[student] kind`` of the token-classifier student, and where its class lives.
STUDENT_KIND = "ner-token"
STUDENT_REF = "pgkd_ner.token_student:TokenClassifierStudent"


def is_ner(context: StepContext) -> bool:
    return isinstance(context.task, NerTask)


@hookimpl
def register_tasks(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register(NAME, NerTask)


@hookimpl
def register_teachers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register(PROVIDER, HeldOutNerTeacher)


@hookimpl
def register_students(register: Callable[[str, Callable[..., Any]], None]) -> None:
    # Lazy: torch and transformers load only when a ner-token student is built or loaded.
    register(STUDENT_KIND, LazyStudentClass(STUDENT_KIND, STUDENT_REF))


@hookimpl
def on_eval(context: StepContext) -> Mapping[str, str] | None:
    if not is_ner(context):
        return None
    return {REPORT_KEY: render_entity_report(context.validation)}


@hookimpl
def build_prompt(context: StepContext, n_samples: int) -> Prompt | None:
    if not is_ner(context):
        return None
    return render_ner_prompt(context, n_samples)
