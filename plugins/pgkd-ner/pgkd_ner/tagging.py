"""BIO tags on words, and the way between character spans and tags.

A fast tokenizer gives every token its character offsets and the word it belongs to. Only a
word's first sub-token carries a tag (the others are ignored by the loss and by decoding); a
word is tagged ``B-TYPE`` when it is the first word of an entity, ``I-TYPE`` inside one and
``O`` outside. Decoding turns runs of ``B``/``I`` words back into spans from the first word's
start to the last word's end, so a span that starts or ends inside a word cannot be predicted
exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pgkd_ner.spans import Span, Spans

OUTSIDE = "O"


@dataclass(frozen=True, slots=True)
class Word:
    """A word of the tokenized text: its first token's index and its character range."""

    token: int
    start: int
    end: int


def tag_names(labels: Sequence[str]) -> tuple[str, ...]:
    """``("O", "B-LOC", "I-LOC", "B-PER", ...)`` for entity types ``labels``."""
    return (OUTSIDE, *(f"{prefix}-{label}" for label in labels for prefix in ("B", "I")))


def words_of(offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None]) -> list[Word]:
    """The words of one tokenized text, in order; special tokens (no word id) are skipped."""
    words: list[Word] = []
    current: int | None = None
    for token, (word_id, (start, end)) in enumerate(zip(word_ids, offsets, strict=True)):
        if word_id is None:
            current = None
            continue
        if word_id == current and words:
            last = words[-1]
            words[-1] = Word(last.token, last.start, max(last.end, end))
            continue
        current = word_id
        words.append(Word(token, start, end))
    return words


def tags_for(words: Sequence[Word], spans: Sequence[Span]) -> list[str]:
    """Each word's BIO tag for the gold ``spans``."""
    tags = [OUTSIDE] * len(words)
    for span in spans:
        inside = [i for i, w in enumerate(words) if w.start < span.end and w.end > span.start]
        for position, i in enumerate(inside):
            tags[i] = f"{'B' if position == 0 else 'I'}-{span.label}"
    return tags


def spans_from_tags(words: Sequence[Word], tags: Sequence[str]) -> Spans:
    """Spans from per-word BIO tags. An ``I-X`` that does not continue an ``X`` entity starts
    one (the usual lenient reading)."""
    spans: list[Span] = []
    open_label: str | None = None
    start = end = 0
    for word, tag in zip(words, tags, strict=True):
        prefix, _, label = tag.partition("-")
        if prefix == "I" and label == open_label:
            end = word.end
            continue
        if open_label is not None:
            spans.append(Span(start, end, open_label))
            open_label = None
        if prefix in ("B", "I") and label:
            open_label, start, end = label, word.start, word.end
    if open_label is not None:
        spans.append(Span(start, end, open_label))
    return tuple(spans)
