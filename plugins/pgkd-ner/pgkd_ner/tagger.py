"""What the NER task needs from a student: entity spans per text, with a confidence and the
token-level loss against gold spans when they are known. Every tagger also gives ``pgkd
predict`` its output records (:mod:`pgkd_ner.prediction`)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgkd.students.base import Student

from pgkd_ner.spans import Span, Spans

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class Tagging:
    """One text as the student tagged it.

    ``confidence`` is the lowest top-tag probability over the text's words: a sentence is only
    right when every word's tag is, so it is as sure as its least sure word.
    ``entity_confidences`` holds the same for each of ``entities``, over that entity's words
    (empty when the tagger does not say). ``loss_sum`` is the cross-entropy summed over the
    ``tokens`` tagged tokens against the gold spans (0 and 0 when no gold was given).
    """

    entities: Spans
    confidence: float
    loss_sum: float = 0.0
    tokens: int = 0
    entity_confidences: tuple[float, ...] = ()


class EntityTagger(Student):
    """A student that finds entity spans; ``labels`` are the entity types."""

    @abc.abstractmethod
    def tag(
        self, texts: Sequence[str], gold: Sequence[Sequence[Span]] | None = None
    ) -> list[Tagging]:
        """Tag ``texts``; with ``gold`` (aligned with ``texts``) also report the loss."""

    def prediction_records(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """What ``pgkd predict`` writes per text: its entities with character offsets."""
        from pgkd_ner.prediction import entity_records

        return entity_records(texts, self.tag(texts))

    def prediction_schema(self) -> pa.Schema:
        """Arrow types of :meth:`prediction_records`' fields, for Parquet output."""
        from pgkd_ner.prediction import entity_schema

        return entity_schema()
