"""Entity-level scores, the report, and BIO alignment through a real fast tokenizer."""

from __future__ import annotations

import pytest
from pgkd import load_tokenizer
from pgkd.testing import packaged_minilm

from pgkd_ner.metrics import score_entities
from pgkd_ner.report import render_entity_report
from pgkd_ner.spans import Span
from pgkd_ner.tagging import Word, spans_from_tags, tag_names, tags_for, words_of

LABELS = ("LOC", "ORG", "PER")
GOLD = [
    (Span(0, 8, "PER"), Span(20, 25, "LOC")),  # both found
    (Span(0, 7, "ORG"),),  # found with the wrong type
    (Span(3, 9, "LOC"), Span(15, 20, "PER")),  # LOC missed, PER's span too long
    (),  # a spurious ORG
]
PREDICTED = [
    (Span(0, 8, "PER"), Span(20, 25, "LOC")),
    (Span(0, 7, "LOC"),),
    (Span(15, 24, "PER"),),
    (Span(2, 6, "ORG"),),
]


def test_entity_scores_count_exact_span_and_type_matches_only() -> None:
    evaluation = score_entities(GOLD, PREDICTED, LABELS, loss=0.5)
    per = evaluation.per_class
    # right/predicted/gold: LOC 1/2/2, ORG 0/1/1, PER 1/2/2.
    assert (per["LOC"].precision, per["LOC"].recall, per["LOC"].support) == (0.5, 0.5, 2)
    assert (per["ORG"].precision, per["ORG"].recall, per["ORG"].f1) == (0.0, 0.0, 0.0)
    assert per["PER"].f1 == pytest.approx(0.5)
    m = evaluation.metrics
    assert m["precision"] == pytest.approx(2 / 5) and m["recall"] == pytest.approx(2 / 5)
    assert m["f1"] == pytest.approx(2 / 5)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.0 + 0.5) / 3)
    assert m["accuracy"] == pytest.approx(1 / 4)
    assert evaluation.loss == 0.5 and evaluation.labels == LABELS
    # The ORG found as LOC is the only off-diagonal cell.
    assert evaluation.confusion == ((1, 0, 0), (1, 0, 0), (0, 0, 1))
    assert evaluation.to_dict()["per_class"]["LOC"]["support"] == 2


def test_scores_of_nothing_are_zero_not_errors() -> None:
    evaluation = score_entities([], [], LABELS, loss=0.0)
    assert evaluation.metrics == {
        "f1": 0.0,
        "precision": 0.0,
        "recall": 0.0,
        "macro_f1": 0.0,
        "accuracy": 0.0,
    }
    perfect = score_entities([(), ()], [(), ()], LABELS, loss=0.0)
    assert perfect.metrics["accuracy"] == 1.0


def test_report_lists_weakest_types_first_and_the_confusions() -> None:
    text = render_entity_report(score_entities(GOLD, PREDICTED, LABELS, loss=0.25))
    lines = text.splitlines()
    assert lines[0].startswith("overall, an entity counts only when its exact span and type")
    assert "micro precision 0.400, recall 0.400, F1 0.400; macro F1 0.333" in lines[0]
    assert "sentences with every entity right 0.250; token loss 0.250" in lines[0]
    table = lines[lines.index("type | precision | recall | f1 | support") + 1 :][:3]
    assert [row.split(" | ")[0] for row in table] == ["ORG", "LOC", "PER"]
    assert "- ORG tagged as LOC: 1" in lines


def test_bio_tags_round_trip_through_words() -> None:
    words = [Word(1, 0, 3), Word(2, 4, 8), Word(4, 9, 12), Word(5, 13, 18)]
    spans = (Span(0, 8, "PER"), Span(13, 18, "LOC"))
    tags = tags_for(words, spans)
    assert tags == ["B-PER", "I-PER", "O", "B-LOC"]
    assert spans_from_tags(words, tags) == spans
    # A stray I- opens an entity; a B- right after an entity starts a new one.
    assert spans_from_tags(words, ["O", "I-ORG", "B-ORG", "I-PER"]) == (
        Span(4, 8, "ORG"),
        Span(9, 12, "ORG"),
        Span(13, 18, "PER"),
    )
    assert tag_names(("LOC", "PER")) == ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")


def test_offsets_of_a_fast_tokenizer_align_spans_to_first_subwords() -> None:
    tokenizer = load_tokenizer(packaged_minilm())
    text = "Volunteers from Oxfam reached Buenos Aires."
    encoded = tokenizer([text], return_offsets_mapping=True)
    words = words_of([tuple(p) for p in encoded["offset_mapping"][0]], encoded.word_ids(0))
    assert [text[w.start : w.end] for w in words] == [
        "Volunteers",
        "from",
        "Oxfam",
        "reached",
        "Buenos",
        "Aires",
        ".",
    ]
    spans = (Span(16, 21, "ORG"), Span(30, 42, "LOC"))
    tags = tags_for(words, spans)
    assert tags == ["O", "O", "B-ORG", "O", "B-LOC", "I-LOC", "O"]
    assert spans_from_tags(words, tags) == spans
    # "Oxfam" is split into sub-tokens: only the first carries the word.
    assert len(encoded["input_ids"][0]) > len(words) + 2
