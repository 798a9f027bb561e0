"""The ``ner`` task: a sample is ``{"text": str, "entities": [{"start", "end", "label"}]}``.

``Sample.target`` is a tuple of :class:`~pgkd_ner.spans.Span`, sorted by start. Teachers may
also name entities by their text (``{"text": "Paris", "label": "LOC"}``); such mentions are
resolved to offsets when the record is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pgkd import ConfigError, Evaluation, Prediction, Sample, Student

from pgkd_ner.metrics import score_entities
from pgkd_ner.spans import Spans, parse_entities, to_offset_records
from pgkd_ner.tagger import EntityTagger

NAME = "ner"
#: Where entities are read from: ``entities``, or ``label`` (what ``[data] label_field`` maps a
#: differently named column to).
ENTITY_FIELDS = ("entities", "label")


def spans_of(sample: Sample) -> Spans:
    target: Spans = sample.target
    return target


class NerTask:
    name = NAME

    def parse_record(self, record: Mapping[str, Any], *, origin: str, step: int) -> Sample:
        field = next((key for key in ENTITY_FIELDS if key in record), None)
        if "text" not in record or field is None:
            found = ", ".join(sorted(map(str, record))) or "none"
            raise ValueError(
                f"a NER record needs 'text' and 'entities' (fields found: {found}); "
                "set [data] text_field / label_field to the right names"
            )
        text = record["text"]
        if not isinstance(text, str):
            raise ValueError(f"'text' must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError("'text' is empty; drop the row or fill it in")
        spans = parse_entities(text, record[field])
        return Sample(text=text, target=spans, origin=origin, step=step)

    def to_record(self, sample: Sample) -> dict[str, Any]:
        return {"text": sample.text, "entities": to_offset_records(spans_of(sample))}

    def labels_of(self, samples: Sequence[Sample]) -> tuple[str, ...]:
        return tuple(sorted({span.label for s in samples for span in spans_of(s)}))

    def label_errors(self, sample: Sample, labels: Sequence[str]) -> str | None:
        outside = sorted({span.label for span in spans_of(sample)} - set(labels))
        if not outside:
            return None
        names = ", ".join(map(repr, outside))
        return f"entity type {names} is outside the taxonomy ({', '.join(labels)})"

    def stratum(self, sample: Sample) -> str:
        return "+".join(sorted({span.label for span in spans_of(sample)})) or "none"

    def answer_schema(self, n_samples: int, labels: Sequence[str]) -> dict[str, Any]:
        """A list of ``n_samples`` sentences; each entity is a mention (``text`` and
        ``label``, the form LLMs get right) or character offsets (``start``, ``end``,
        ``label``)."""
        label = {"type": "string", "enum": list(labels)}
        by_mention = {
            "type": "object",
            "properties": {"text": {"type": "string", "minLength": 1}, "label": label},
            "required": ["text", "label"],
            "additionalProperties": False,
        }
        by_offsets = {
            "type": "object",
            "properties": {
                "start": {"type": "integer", "minimum": 0},
                "end": {"type": "integer", "minimum": 1},
                "label": label,
            },
            "required": ["start", "end", "label"],
            "additionalProperties": False,
        }
        return {
            "type": "array",
            "minItems": n_samples,
            "maxItems": n_samples,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string", "minLength": 1},
                    "entities": {"type": "array", "items": {"anyOf": [by_mention, by_offsets]}},
                },
                "required": ["text", "entities"],
                "additionalProperties": False,
            },
        }

    def evaluate(
        self, student: Student, samples: Sequence[Sample], labels: Sequence[str]
    ) -> tuple[Evaluation, list[Prediction]]:
        """Entity-level scores, token-level cross-entropy as the loss, and one prediction per
        sentence (correct when all its entities are exactly right)."""
        if not isinstance(student, EntityTagger):
            raise ConfigError(
                f"[student] kind = {student.kind!r} cannot tag entities, which [task] name = "
                '"ner" needs; use kind = "ner-token"'
            )
        gold = [spans_of(s) for s in samples]
        taggings = student.tag([s.text for s in samples], gold)
        tokens = sum(t.tokens for t in taggings)
        loss = sum(t.loss_sum for t in taggings) / tokens if tokens else 0.0
        predicted = [t.entities for t in taggings]
        evaluation = score_entities(gold, predicted, labels, loss)
        predictions = [
            Prediction(
                target=t.entities, confidence=t.confidence, correct=set(t.entities) == set(g)
            )
            for t, g in zip(taggings, gold, strict=True)
        ]
        return evaluation, predictions
