"""One text as a tagger tagged it: the record both the task and ``pgkd predict`` read."""

from __future__ import annotations

from dataclasses import dataclass

from pgkd_ner.spans import Spans


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
