"""The "teacher zero-shot" baseline: the teacher labels each text itself, with no student.

It answers the question every distillation run must beat: how well does the LLM classify
without any training? Each text is one teacher call whose answer is constrained by the schema
``{"label": <one of the labels>}``. A fixed number of workers pull texts from a queue, so a slow
call never holds up a whole chunk.

The helper talks to a bare :class:`~pgkd.teachers.base.Teacher`, so it owns the retries of its
own calls: a :class:`~pgkd.teachers.base.TransientTeacherError` is retried (honouring
``retry_after``); any other :class:`~pgkd.teachers.base.TeacherError` stops the other calls
and propagates. An answer that
names no valid label becomes ``""``, which scores as wrong. Given a
:class:`~pgkd.fill.usage.Usage`, every attempt is counted in it (calls, retries, failed
calls, tokens and, when it has a price, cost), failed attempts too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from pgkd.fill.usage import Usage
from pgkd.teachers.base import Teacher, TeacherError, TeacherRequest, TransientTeacherError

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
    attempts: int = 3,
    usage: Usage | None = None,
) -> list[str]:
    """One label per text, in the order of ``texts``, as the teacher picks it.

    ``concurrency`` calls run at once. Each call uses temperature 0 and seed ``seed + index``;
    ``max_tokens`` caps the answer. A call failing with a transient error is tried up to
    ``attempts`` times in all. ``usage``, when given, counts every attempt.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if not labels:
        raise ValueError("zero-shot classification needs at least one label")
    schema = label_schema(labels)
    results = [NO_LABEL] * len(texts)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(texts)):
        queue.put_nowait(index)

    async def worker() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            request = TeacherRequest(
                system=_SYSTEM,
                user=_user_prompt(texts[index], labels),
                schema=schema,
                n_samples=1,
                seed=seed + index,
                temperature=0.0,
                max_tokens=max_tokens,
            )
            answer = await _complete_with_retries(teacher, request, attempts, usage or Usage())
            results[index] = parse_label(answer, labels)

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(texts)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        # The first failure is raised as is (not in an ExceptionGroup); stop the other workers.
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return results


async def _complete_with_retries(
    teacher: Teacher, request: TeacherRequest, attempts: int, usage: Usage
) -> str:
    for attempt in range(1, attempts + 1):
        reservation = usage.reserve(0.0)
        try:
            reply = await teacher.complete(request)
        except TransientTeacherError as exc:
            usage.settle(reservation, exc.input_tokens, exc.output_tokens, ok=False)
            if attempt == attempts:
                raise
            usage.retries += 1
            delay = exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt
            await asyncio.sleep(delay)
        except (TeacherError, asyncio.CancelledError):
            usage.settle(reservation, 0, 0, ok=False)
            raise
        else:
            usage.settle(reservation, reply.input_tokens, reply.output_tokens, ok=True)
            return reply.text
    raise AssertionError("unreachable")  # pragma: no cover
