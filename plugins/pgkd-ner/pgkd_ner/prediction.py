"""What ``pgkd predict`` writes for a NER student: one record per text with its entities.

``{"entities": [{"type": "PER", "start": 0, "end": 11, "text": "Maria Lopez", "confidence":
0.97}, ...], "confidence": 0.93}``: offsets are characters of the input text
(``text[start:end]`` is the entity's ``text``), entities are sorted by start. An entity's
``confidence`` is its least sure word's top-tag probability, the record's is the whole text's
(as in :class:`pgkd_ner.tagged.Tagging`; ``null`` for an entity when the tagger gives none).
pgkd puts ``row``, the ``--keep`` fields and the text in front.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgkd_ner.spans import mention
from pgkd_ner.tagged import Tagging

if TYPE_CHECKING:
    import pyarrow as pa


def entity_records(texts: Sequence[str], taggings: Sequence[Tagging]) -> list[dict[str, Any]]:
    """One output record per text from the student's taggings of ``texts``."""
    return [
        {
            "entities": [
                {
                    "type": span.label,
                    "start": span.start,
                    "end": span.end,
                    "text": mention(text, span),
                    "confidence": sure,
                }
                for span, sure in zip(tagging.entities, _entity_confidences(tagging), strict=True)
            ],
            "confidence": tagging.confidence,
        }
        for text, tagging in zip(texts, taggings, strict=True)
    ]


def _entity_confidences(tagging: Tagging) -> Sequence[float | None]:
    if len(tagging.entity_confidences) == len(tagging.entities):
        return tagging.entity_confidences
    return [None] * len(tagging.entities)


def entity_schema() -> pa.Schema:
    """Arrow types of :func:`entity_records`' fields, so Parquet output keeps them in every
    chunk (a chunk without any entity would otherwise type the list as nulls)."""
    import pyarrow as pa

    entity = pa.struct(
        [
            ("type", pa.string()),
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("text", pa.string()),
            ("confidence", pa.float64()),
        ]
    )
    return pa.schema([("entities", pa.list_(entity)), ("confidence", pa.float64())])
