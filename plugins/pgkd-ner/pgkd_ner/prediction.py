"""What ``pgkd predict`` writes for a NER student: one record per text with its entities.

``{"entities": [{"type": "PER", "start": 0, "end": 11, "text": "Maria Lopez"}, ...],
"confidence": 0.93}``: offsets are characters of the input text (``text[start:end]`` is the
entity's ``text``), entities are sorted by start, and ``confidence`` is the sentence's (its
least sure word's top-tag probability, as in :class:`pgkd_ner.tagger.Tagging`); the tagger gives
no confidence per entity. pgkd puts ``row``, the ``--keep`` fields and the text in front.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgkd_ner.spans import mention
from pgkd_ner.tagger import Tagging

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
                }
                for span in tagging.entities
            ],
            "confidence": tagging.confidence,
        }
        for text, tagging in zip(texts, taggings, strict=True)
    ]


def entity_schema() -> pa.Schema:
    """Arrow types of :func:`entity_records`' fields, so Parquet output keeps them in every
    chunk (a chunk without any entity would otherwise type the list as nulls)."""
    import pyarrow as pa

    entity = pa.struct(
        [("type", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("text", pa.string())]
    )
    return pa.schema([("entities", pa.list_(entity)), ("confidence", pa.float64())])
