"""Entity spans: parsing a record's ``entities`` list, checking each span against the text, and
resolving mentions (``{"text": "Paris", "label": "LOC"}``) to character offsets.

LLMs are poor at counting characters, so a teacher may name an entity by its surface text
instead of its offsets; the mention is placed at its first occurrence (on word boundaries)
that no other entity of the sentence already uses.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple


class Span(NamedTuple):
    """One entity: characters ``text[start:end]`` of type ``label``."""

    start: int
    end: int
    label: str


Spans = tuple[Span, ...]


def mention(text: str, span: Span) -> str:
    return text[span.start : span.end]


def parse_entities(text: str, entities: Any) -> Spans:
    """The spans of ``entities`` (a list of offset or mention objects), sorted by start.

    Raises ``ValueError`` with a one-line reason naming the offending field.
    """
    if not isinstance(entities, list):
        raise ValueError(f"'entities' must be a list, got {type(entities).__name__}")
    fixed: list[tuple[int, Span]] = []
    mentions: list[tuple[int, str, str]] = []
    for i, entity in enumerate(entities):
        where = f"entities[{i}]"
        if not isinstance(entity, Mapping):
            raise ValueError(f"{where} must be an object, got {type(entity).__name__}")
        label = _label(entity, where)
        surface = entity.get("text")
        if "start" in entity or "end" in entity:
            span = _offsets_matching(text, entity, label, where, surface)
            if span is not None:
                fixed.append((i, span))
                continue
        if surface is None:
            found = ", ".join(sorted(map(str, entity))) or "none"
            raise ValueError(
                f"{where} needs 'start' and 'end' or the mention's 'text' (fields found: {found})"
            )
        if not isinstance(surface, str) or not surface.strip():
            raise ValueError(f"{where}.text must be a non-empty string")
        mentions.append((i, surface.strip(), label))
    placed = dict(fixed)
    _check_overlaps(text, sorted(fixed, key=lambda item: item[1]))
    taken = [span for _, span in fixed]
    for i, surface, label in mentions:
        span = resolve_mention(text, surface, label, taken)
        if span is None:
            raise ValueError(
                f"entities[{i}].text: {surface!r} does not occur in 'text' apart from the "
                "other entities; name an entity exactly as it is written in the sentence"
            )
        placed[i] = span
        taken.append(span)
    return tuple(sorted(placed.values()))


def _label(entity: Mapping[str, Any], where: str) -> str:
    label = entity.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{where}.label must be a non-empty string, got {label!r}")
    return label.strip()


def _offsets_matching(
    text: str, entity: Mapping[str, Any], label: str, where: str, surface: Any
) -> Span | None:
    """The entity's offsets; when it also names its text, None unless the offsets hold exactly
    that text (the mention is then trusted over the offsets)."""
    if surface is None:
        return _offsets(text, entity, label, where)
    try:
        span = _offsets(text, entity, label, where)
    except ValueError:
        return None
    return span if mention(text, span) == surface else None


def _offsets(text: str, entity: Mapping[str, Any], label: str, where: str) -> Span:
    bounds: list[int] = []
    for key in ("start", "end"):
        value = entity.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}.{key} must be an integer, got {value!r}")
        bounds.append(value)
    start, end = bounds
    if start < 0:
        raise ValueError(f"{where}.start: {start} is negative")
    if end > len(text):
        raise ValueError(f"{where}.end: {end} is past the end of 'text' (length {len(text)})")
    if start >= end:
        raise ValueError(f"{where}: start {start} must be smaller than end {end}")
    surface = text[start:end]
    if not surface.strip():
        raise ValueError(f"{where}: span {start}..{end} holds only whitespace")
    if surface != surface.strip():
        raise ValueError(
            f"{where}: span {start}..{end} {surface!r} starts or ends with whitespace; trim it"
        )
    return Span(start, end, label)


def _check_overlaps(text: str, spans: Sequence[tuple[int, Span]]) -> None:
    for (i, left), (j, right) in itertools.pairwise(spans):
        if right.start < left.end:
            raise ValueError(
                f"entities[{i}] {mention(text, left)!r} and entities[{j}] "
                f"{mention(text, right)!r} overlap; nested entities are not supported"
            )


def resolve_mention(text: str, surface: str, label: str, taken: Sequence[Span]) -> Span | None:
    """The first occurrence of ``surface`` in ``text`` on word boundaries that overlaps none of
    ``taken``, or None."""
    pattern = re.escape(surface)
    if surface[0].isalnum() or surface[0] == "_":
        pattern = r"(?<!\w)" + pattern
    if surface[-1].isalnum() or surface[-1] == "_":
        pattern += r"(?!\w)"
    for match in re.finditer(pattern, text):
        start, end = match.span()
        if all(end <= span.start or start >= span.end for span in taken):
            return Span(start, end, label)
    return None


def to_offset_records(spans: Sequence[Span]) -> list[dict[str, Any]]:
    return [{"start": s.start, "end": s.end, "label": s.label} for s in spans]


def to_mention_records(text: str, spans: Sequence[Span]) -> list[dict[str, str]]:
    return [{"text": mention(text, s), "label": s.label} for s in spans]


def describe(text: str, spans: Sequence[Span]) -> str:
    """``[Tim Cook/PER, Paris/LOC]``: spans as a person reads them."""
    return "[" + ", ".join(f"{mention(text, s)}/{s.label}" for s in spans) + "]"
