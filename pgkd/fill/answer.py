"""Reading a teacher's answer: JSON text in, one candidate per record out (the shape asked for
is :mod:`pgkd.teachers.answer_format`).

An answer is a JSON list of records or an object ``{"samples": [...]}``. Anything else (not
JSON, cut off, another shape, no records) is a :class:`MalformedAnswer`, which the pool re-asks.
A record that is there but does not fit the task's schema is *not* a malformed answer: it
becomes a :class:`~pgkd.types.Candidate` with ``sample=None`` and its ``parse_error``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from pgkd.teachers.answer_format import SAMPLES_KEY
from pgkd.types import Candidate


class MalformedAnswer(ValueError):
    """The answer as a whole is unusable; the message says why in one line."""


def parse_answer(text: str) -> list[Any]:
    """The records of an answer; raises :class:`MalformedAnswer`."""
    body = _strip_fence(text.strip())
    if not body:
        raise MalformedAnswer("empty answer")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        # Grammar-constrained decoders (llama.cpp) let raw newlines into strings.
        try:
            value = json.loads(body, strict=False)
        except ValueError as exc:
            raise MalformedAnswer(f"not JSON ({exc.args[0] if exc.args else exc})") from None
    if isinstance(value, dict) and isinstance(value.get(SAMPLES_KEY), list):
        value = value[SAMPLES_KEY]
    if not isinstance(value, list):
        shape = f"object with keys {sorted(value)[:5]}" if isinstance(value, dict) else "scalar"
        raise MalformedAnswer(f'expected a JSON list or {{"samples": [...]}}, got {shape}')
    if not value:
        raise MalformedAnswer("the answer holds no samples")
    return value


def _strip_fence(text: str) -> str:
    """Drop a Markdown code fence around the JSON, which chat models without a JSON mode add."""
    if text.startswith("```"):
        first_newline = text.find("\n")
        text = text[first_newline + 1 :] if first_newline != -1 else ""
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    return text.strip()


def to_candidates(
    records: Sequence[Any], task: Any, *, step: int, call_id: str
) -> tuple[list[Candidate], list[Candidate]]:
    """(parsed, unparsable) candidates of one answer, in answer order."""
    parsed: list[Candidate] = []
    unparsable: list[Candidate] = []
    for record in records:
        if not isinstance(record, Mapping):
            unparsable.append(
                Candidate(
                    record={"value": record},
                    sample=None,
                    parse_error=f"record is a {type(record).__name__}, not a JSON object",
                    call_id=call_id,
                )
            )
            continue
        try:
            sample = task.parse_record(record, origin="teacher", step=step)
        except ValueError as exc:
            unparsable.append(
                Candidate(record=record, sample=None, parse_error=str(exc), call_id=call_id)
            )
            continue
        parsed.append(Candidate(record=record, sample=sample, call_id=call_id))
    return parsed, unparsable
