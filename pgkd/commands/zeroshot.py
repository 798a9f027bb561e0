"""The "teacher zero-shot" baseline: the teacher labels each text itself, with no student.

It answers the question every distillation run must beat: how well does the LLM classify
without any training? Each text is one teacher call whose answer is constrained by the schema
``{"label": <one of the labels>}``.

Every question goes through the fill engine's transport layer
(:class:`~pgkd.fill.sender.RequestSender`), the same as the teacher pool's calls: at most
``concurrency`` requests on the wire, each taken up as soon as a slot frees (a slow call never
holds up the others); a :class:`~pgkd.teachers.base.TransientTeacherError` (429, 5xx, timeout,
dropped connection) is retried up to ``max_retries`` times after the pool's
:class:`~pgkd.fill.backoff.Backoff`, honouring ``Retry-After``, and a request waiting out its
backoff lends its slot to the next question. A call that runs out of retries, or any other
:class:`~pgkd.teachers.base.TeacherError`, stops the other calls and propagates. An answer that
names no valid label becomes ``""``, which scores as wrong. Given a
:class:`~pgkd.fill.usage.Usage`, every attempt is counted in it (calls, retries, failed calls,
tokens and, when it has a price, cost), failed attempts too.

Given a ``batch`` API instead, all questions go out as one job of the provider's batch API,
at its price (:func:`pgkd.fill.batch_questions.answer_in_batches`).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from typing import Any

from pgkd.fill.backoff import Backoff
from pgkd.fill.batch_questions import answer_in_batches
from pgkd.fill.sender import CallLimits, RequestSender, backstop
from pgkd.fill.usage import Usage
from pgkd.fill.writer import ReplyWriter
from pgkd.teachers.base import Teacher, TeacherRequest
from pgkd.teachers.batch_api import BatchApi

__all__ = ["NO_LABEL", "label_schema", "parse_label", "zero_shot_classify"]

#: What an answer that names no valid label becomes.
NO_LABEL = ""

_SYSTEM = (
    "You sort texts into categories. You read one text, choose the single category from the "
    "given list that describes it best, and reply with JSON only."
)


def label_schema(labels: Sequence[str]) -> dict[str, Any]:
    """JSON schema of an answer: an object whose ``label`` is one of ``labels``."""
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(labels)}},
        "required": ["label"],
        "additionalProperties": False,
    }


def _user_prompt(text: str, labels: Sequence[str]) -> str:
    categories = "\n".join(f"- {label}" for label in labels)
    return (
        f"Categories:\n{categories}\n\n"
        f"Text:\n<<<\n{text}\n>>>\n\n"
        'Which one category fits the text? Reply as {"label": "<category>"}, using a category '
        "name exactly as written above."
    )


def parse_label(answer: str, labels: Sequence[str]) -> str:
    """The label an answer names, or :data:`NO_LABEL`.

    Reads ``{"label": ...}``; a label with different case still counts. Failing that, a reply
    that mentions exactly one label by name (a model that ignored the JSON format) counts too.
    """
    by_lower = {label.lower(): label for label in labels}
    try:
        value = json.loads(answer, strict=False)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("label"), str):
        return by_lower.get(value["label"].strip().lower(), NO_LABEL)
    mentioned = [label for label in labels if label.lower() in answer.lower()]
    return mentioned[0] if len(mentioned) == 1 else NO_LABEL


async def zero_shot_classify(
    teacher: Teacher,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    concurrency: int,
    seed: int = 0,
    max_tokens: int = 64,
    max_retries: int = 5,
    backoff: Backoff | None = None,
    usage: Usage | None = None,
    batch: BatchApi | None = None,
    poll_seconds: float = 30.0,
) -> list[str]:
    """One label per text, in the order of ``texts``, as the teacher picks it.

    ``concurrency`` calls run at once. Each call uses temperature 0 and seed ``seed + index``;
    ``max_tokens`` caps the answer. ``max_retries`` and ``backoff`` are the transport policy
    (``[teacher] max_retries`` and the pool's default backoff unless given). ``usage``, when
    given, counts every attempt. With ``batch``, the questions go out as batch jobs, polled
    every ``poll_seconds``, and ``concurrency`` does not apply.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if not labels:
        raise ValueError("zero-shot classification needs at least one label")
    if not texts:
        return []
    schema = label_schema(labels)
    requests = [
        TeacherRequest(
            system=_SYSTEM,
            user=_user_prompt(text, labels),
            schema=schema,
            n_samples=1,
            seed=seed + index,
            temperature=0.0,
            max_tokens=max_tokens,
        )
        for index, text in enumerate(texts)
    ]
    if batch is not None:
        replies = await answer_in_batches(
            batch,
            requests,
            usage=usage if usage is not None else Usage(),
            max_retries=max_retries,
            poll_seconds=poll_seconds,
            backoff=backoff,
            name=teacher.name,
        )
        return [parse_label(reply.text, labels) for reply in replies]
    limits = CallLimits(
        max_retries=max_retries,
        max_reasks=0,
        call_timeout=backstop(teacher),
        backoff=backoff or Backoff(),
    )
    sender = RequestSender(
        teacher,
        template=requests[0],
        step=0,
        limits=limits,
        usage=usage if usage is not None else Usage(),
        writer=ReplyWriter(None, None),
        cache=None,
        rate_limit=None,
        rng=random.Random(seed),
        concurrency=concurrency,
        on_change=lambda: None,
    )

    async def ask(index: int) -> str:
        reply = await sender.reply(requests[index], f"zero-shot-{index}")
        return parse_label(reply.text, labels)

    tasks = [asyncio.create_task(ask(index)) for index in range(len(texts))]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # The first failure is raised as is (not in an ExceptionGroup); stop the other calls.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
