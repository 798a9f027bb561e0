"""Parsing and checking NER records: offsets, mentions, bad spans, the taxonomy, the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pgkd import ConfigError, DataError, Sample, Student, StudentSettings
from pgkd.testing import load_samples

from pgkd_ner.spans import Span, describe
from pgkd_ner.task import NerTask

TASK = NerTask()
TEXT = "Tim Cook met Angela in Paris and flew back to Paris."


def parse(record: dict[str, Any]) -> Sample:
    return TASK.parse_record(record, origin="teacher", step=1)


def test_offsets_parse_into_sorted_spans() -> None:
    sample = parse(
        {
            "text": TEXT,
            "entities": [
                {"start": 23, "end": 28, "label": "LOC"},
                {"start": 0, "end": 8, "label": "PER"},
            ],
        }
    )
    assert sample.target == (Span(0, 8, "PER"), Span(23, 28, "LOC"))
    assert sample.origin == "teacher" and sample.step == 1


def test_mentions_resolve_to_the_first_unused_occurrence() -> None:
    sample = parse(
        {
            "text": TEXT,
            "entities": [
                {"text": "Paris", "label": "LOC"},
                {"text": "Tim Cook", "label": "PER"},
                {"text": "Paris", "label": "LOC"},
            ],
        }
    )
    assert sample.target == (Span(0, 8, "PER"), Span(23, 28, "LOC"), Span(46, 51, "LOC"))


def test_mentions_avoid_spans_given_by_offsets() -> None:
    sample = parse(
        {
            "text": TEXT,
            "entities": [
                {"text": "Paris", "label": "LOC"},
                {"start": 23, "end": 28, "label": "LOC"},
            ],
        }
    )
    assert sample.target == (Span(23, 28, "LOC"), Span(46, 51, "LOC"))


def test_mentions_match_whole_words_only() -> None:
    with pytest.raises(ValueError, match=r"entities\[0\]\.text: 'Par' does not occur"):
        parse({"text": TEXT, "entities": [{"text": "Par", "label": "LOC"}]})


def test_wrong_offsets_with_a_mention_trust_the_mention() -> None:
    sample = parse(
        {"text": TEXT, "entities": [{"start": 22, "end": 27, "text": "Paris", "label": "LOC"}]}
    )
    assert sample.target == (Span(23, 28, "LOC"),)


@pytest.mark.parametrize(
    ("entities", "reason"),
    [
        ([{"text": "Berlin", "label": "LOC"}], r"entities\[0\]\.text: 'Berlin' does not occur"),
        ([{"text": "Paris", "label": "LOC"}] * 3, r"entities\[2\]\.text: 'Paris' does not occur"),
        ([{"start": 40, "end": 60, "label": "LOC"}], r"entities\[0\]\.end: 60 is past the end"),
        ([{"start": -1, "end": 3, "label": "PER"}], r"entities\[0\]\.start: -1 is negative"),
        ([{"start": 5, "end": 5, "label": "PER"}], r"entities\[0\]: start 5 must be smaller"),
        ([{"start": 8, "end": 9, "label": "PER"}], r"holds only whitespace"),
        ([{"start": 0, "end": 9, "label": "PER"}], r"starts or ends with whitespace"),
        ([{"start": "0", "end": 8, "label": "PER"}], r"entities\[0\]\.start must be an integer"),
        ([{"start": 0, "end": True, "label": "PER"}], r"entities\[0\]\.end must be an integer"),
        ([{"start": 0, "end": 8}], r"entities\[0\]\.label must be a non-empty string"),
        ([{"label": "PER"}], r"entities\[0\] needs 'start' and 'end' or the mention's 'text'"),
        (["Paris"], r"entities\[0\] must be an object"),
        ("Paris", r"'entities' must be a list"),
        (
            [{"start": 0, "end": 8, "label": "PER"}, {"start": 4, "end": 12, "label": "PER"}],
            r"entities\[0\] 'Tim Cook' and entities\[1\] 'Cook met' overlap",
        ),
    ],
)
def test_bad_entities_are_refused_with_a_reason_naming_the_field(
    entities: Any, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        parse({"text": TEXT, "entities": entities})


def test_bad_records_are_refused_with_a_one_line_reason() -> None:
    with pytest.raises(
        ValueError, match=r"needs 'text' and 'entities' \(fields found: label2, text\)"
    ):
        parse({"text": TEXT, "label2": []})
    with pytest.raises(ValueError, match="'text' is empty"):
        parse({"text": "  ", "entities": []})
    with pytest.raises(ValueError, match="'text' must be a string"):
        parse({"text": 3, "entities": []})


def test_label_field_renamed_by_the_data_layer_is_read(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"sentence": "Tim Cook", "ents": [{"start": 0, "end": 8, "label": "PER"}]}\n')
    samples = load_samples(path, TASK, text_field="sentence", label_field="ents")
    assert samples[0].target == (Span(0, 8, "PER"),)


def test_a_bad_line_in_a_data_file_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"text": "Tim Cook", "entities": []}\n'
        '{"text": "Tim Cook", "entities": [{"start": 0, "end": 80, "label": "PER"}]}\n'
    )
    with pytest.raises(DataError, match=r"train.jsonl:2: entities\[0\]\.end: 80 is past the end"):
        load_samples(path, TASK)


def test_records_round_trip() -> None:
    sample = parse({"text": TEXT, "entities": [{"text": "Tim Cook", "label": "PER"}]})
    record = TASK.to_record(sample)
    assert record == {"text": TEXT, "entities": [{"start": 0, "end": 8, "label": "PER"}]}
    assert TASK.parse_record(record, origin="teacher", step=1) == sample


def test_taxonomy_errors_and_strata() -> None:
    a = Sample(TEXT, (Span(0, 8, "PER"), Span(23, 28, "LOC")))
    b = Sample("Siemens grew.", (Span(0, 7, "ORG"),))
    none = Sample("It rained.", ())
    assert TASK.labels_of([a, b, none]) == ("LOC", "ORG", "PER")
    assert TASK.label_errors(a, ("LOC", "PER")) is None
    assert (
        TASK.label_errors(b, ("LOC", "PER"))
        == "entity type 'ORG' is outside the taxonomy (LOC, PER)"
    )
    assert TASK.label_errors(none, ()) is None
    assert [TASK.stratum(s) for s in (a, b, none)] == ["LOC+PER", "ORG", "none"]
    assert describe(TEXT, a.target) == "[Tim Cook/PER, Paris/LOC]"


def test_answer_schema_asks_for_n_sentences_with_types_from_the_taxonomy() -> None:
    schema = TASK.answer_schema(4, ["LOC", "PER"])
    assert schema["type"] == "array" and schema["minItems"] == schema["maxItems"] == 4
    item = schema["items"]
    assert item["required"] == ["text", "entities"]
    forms = item["properties"]["entities"]["items"]["anyOf"]
    assert [sorted(f["required"]) for f in forms] == [["label", "text"], ["end", "label", "start"]]
    assert all(f["properties"]["label"]["enum"] == ["LOC", "PER"] for f in forms)


def test_the_shipped_data_parses_and_is_disjoint(data_dir: Path) -> None:
    splits = {
        name: load_samples(data_dir / f"{name}.jsonl", TASK) for name in ("train", "test", "pool")
    }
    assert {name: len(s) for name, s in splits.items()} == {"train": 150, "test": 50, "pool": 300}
    texts = [{s.text for s in samples} for samples in splits.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert TASK.labels_of(splits["train"]) == ("LOC", "ORG", "PER")


def test_a_student_that_cannot_tag_is_a_config_error() -> None:
    class Classifier(Student):
        kind = "frozen"

        def fit(self, train: Any, validation: Any, progress: Any = None) -> Any:
            raise NotImplementedError

        def save(self, directory: Path) -> None:
            raise NotImplementedError

        @classmethod
        def load(cls, directory: Path) -> Student:
            raise NotImplementedError

    student = Classifier(StudentSettings(kind="frozen"), ("PER",), seed=0)
    with pytest.raises(ConfigError, match=r"kind = 'frozen' cannot tag entities.*\"ner-token\""):
        TASK.evaluate(student, [Sample(TEXT, ())], ("PER",))
