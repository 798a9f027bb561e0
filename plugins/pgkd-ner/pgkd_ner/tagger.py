"""What the NER task needs from a student: entity spans per text, with a confidence and the
token-level loss against gold spans when they are known. Every tagger also gives ``pgkd
predict`` its output records (:mod:`pgkd_ner.prediction`)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pgkd import Student

from pgkd_ner.prediction import entity_records, entity_schema
from pgkd_ner.spans import Span
from pgkd_ner.tagged import Tagging

if TYPE_CHECKING:
    import pyarrow as pa


class EntityTagger(Student):
    """A student that finds entity spans; ``labels`` are the entity types."""

    @abc.abstractmethod
    def tag(
        self, texts: Sequence[str], gold: Sequence[Sequence[Span]] | None = None
    ) -> list[Tagging]:
        """Tag ``texts``; with ``gold`` (aligned with ``texts``) also report the loss."""

    def prediction_records(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """What ``pgkd predict`` writes per text: its entities with character offsets."""
        return entity_records(texts, self.tag(texts))

    def prediction_schema(self) -> pa.Schema:
        """Arrow types of :meth:`prediction_records`' fields, for Parquet output."""
        return entity_schema()
