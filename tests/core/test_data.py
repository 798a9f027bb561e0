from __future__ import annotations

import functools
import gzip
import math
from collections import Counter
from pathlib import Path

import pytest

from pgkd.config import DataConfig
from pgkd.data import load_samples, prepare_splits, stratified_sample, stratified_split
from pgkd.errors import DataError
from pgkd.tasks.classification import ClassificationTask
from pgkd.testing import shared_datasets
from pgkd.types import Sample

TASK = ClassificationTask()


def jsonl(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def rows(n: int, labels: tuple[str, ...] = ("a", "b")) -> list[str]:
    return [
        f'{{"text": "sample number {i}", "label": "{labels[i % len(labels)]}"}}' for i in range(n)
    ]


def test_jsonl_gzip_csv_tsv_parquet_agree(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    expected = [("hello, world", "a"), ("second", "b")]
    jsonl(
        tmp_path / "d.jsonl",
        ['{"text": "hello, world", "label": "a"}', '{"text": "second", "label": "b"}'],
    )
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress((tmp_path / "d.jsonl").read_bytes()))
    (tmp_path / "d.csv").write_text('text,label\n"hello, world",a\nsecond,b\n', encoding="utf-8")
    (tmp_path / "d.tsv").write_text("label\ttext\na\thello, world\nb\tsecond\n", encoding="utf-8")
    (tmp_path / "semi.csv").write_text("text;label\nhello, world;a\nsecond;b\n", encoding="utf-8")
    pq.write_table(
        pa.table({"text": ["hello, world", "second"], "label": ["a", "b"]}), tmp_path / "d.parquet"
    )
    for name in ("d.jsonl", "d.jsonl.gz", "d.csv", "d.tsv", "semi.csv", "d.parquet"):
        samples = load_samples(tmp_path / name, TASK)
        assert [(s.text, s.target) for s in samples] == expected, name


def test_custom_field_names(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", ['{"body": "x y", "intent": "a"}'])
    [sample] = load_samples(path, TASK, text_field="body", label_field="intent")
    assert (sample.text, sample.target) == ("x y", "a")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (b'{"text": "ok", "label": "a"}\n{"text": broken\n', "d.jsonl:2: not valid JSON"),
        (
            b'{"body": "ok", "label": "a"}\n',
            "d.jsonl:1: missing field(s) text (fields found: body, label)",
        ),
        (b'{"text": "   ", "label": "a"}\n', "d.jsonl:1: 'text' is empty"),
        ('{"text": "caf\u00e9", "label": "a"}\n'.encode("latin-1"), "not UTF-8"),
        (b'["text", "label"]\n', "d.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_files_get_one_line_errors(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_samples(path, TASK)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_samples(tmp_path / "none.jsonl", TASK)
    (tmp_path / "d.xml").write_text("<x/>")
    with pytest.raises(DataError, match="unknown format"):
        load_samples(tmp_path / "d.xml", TASK)


def test_stratified_split_is_seeded_and_keeps_every_class(tmp_path: Path) -> None:
    samples = load_samples(jsonl(tmp_path / "d.jsonl", rows(100, ("a", "b", "c", "d"))), TASK)
    rest, held = stratified_split(samples, 0.2, TASK, seed=1)
    again = stratified_split(samples, 0.2, TASK, seed=1)
    assert (rest, held) == again
    assert len(held) == 20 and len(rest) == 80
    assert Counter(s.target for s in held) == {"a": 5, "b": 5, "c": 5, "d": 5}
    assert not {s.text for s in held} & {s.text for s in rest}


def test_splits_refuse_unknown_labels_and_single_class(tmp_path: Path) -> None:
    train = jsonl(tmp_path / "train.jsonl", rows(20))
    test = jsonl(tmp_path / "test.jsonl", ['{"text": "t", "label": "zzz"}'])
    with pytest.raises(
        DataError, match="label 'zzz' is outside the taxonomy, which train does not have"
    ):
        prepare_splits(DataConfig(train=train, test=test), TASK, seed=0)
    one = jsonl(tmp_path / "one.jsonl", rows(10, ("a",)))
    with pytest.raises(DataError, match=r"needs at least 2 labels, found 'a'"):
        prepare_splits(DataConfig(train=one), TASK, seed=0)
    few = jsonl(tmp_path / "few.jsonl", rows(3, ("a", "b", "c")))
    with pytest.raises(DataError, match="too few to split off validation"):
        prepare_splits(DataConfig(train=few), TASK, seed=0)


def test_splits_with_loop_test(tmp_path: Path) -> None:
    train = jsonl(tmp_path / "train.jsonl", rows(100))
    splits = prepare_splits(DataConfig(train=train, loop_test_fraction=0.1), TASK, seed=0)
    assert len(splits.validation) == 20 and len(splits.loop_test) == 8
    assert len(splits.train) == 72
    assert splits.labels == ("a", "b")


SHARED = shared_datasets()


@functools.cache
def shared_train(name: str) -> list[Sample]:
    path = SHARED / name / "train.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path}: the shared benchmark data sets are not on this machine")
    return load_samples(path, TASK)


@pytest.mark.parametrize(
    ("dataset", "size"),
    [
        ("huffpost", 41),  # 41 classes of 720 rows
        ("huffpost", 100),
        ("huffpost", 1000),
        ("huffpost", 29_519),
        ("imdb", 2),  # 2 classes of 12,500 rows
        ("imdb", 1001),
        ("amazon_htc", 362),  # 362 classes of 1 to 195 rows
        ("amazon_htc", 1000),
        ("amazon_htc", 2500),
        ("inshorts", 999),  # 7 classes, imbalanced
    ],
)
def test_stratified_sample_draws_exactly_size_rows_in_proportion(dataset: str, size: int) -> None:
    samples = shared_train(dataset)
    drawn, rest = stratified_sample(samples, size, TASK, seed=5)
    assert len(drawn) == size
    assert sorted(map(id, drawn + rest)) == sorted(map(id, samples))
    have = Counter(s.target for s in samples)
    got = Counter(s.target for s in drawn)
    assert set(got) == set(have)  # every class keeps a row
    # Rows above quota, times len(samples) to stay in integers. No class with a row to spare
    # is more than one row further above its quota than a class that could take one more.
    above = {label: got[label] * len(samples) - size * count for label, count in have.items()}
    spare = max((above[label] for label in have if got[label] > 1), default=-math.inf)
    wanting = min((above[label] for label in have if got[label] < have[label]), default=math.inf)
    assert spare <= wanting + len(samples)
    for label, count in have.items():
        assert 1 <= got[label] <= max(1, math.ceil(size * count / len(samples)))
    if len(set(have.values())) == 1:  # balanced data: shares differ by at most one row
        assert max(got.values()) - min(got.values()) <= 1
    again, _ = stratified_sample(samples, size, TASK, seed=5)
    other, _ = stratified_sample(samples, size, TASK, seed=6)
    assert [id(s) for s in again] == [id(s) for s in drawn]
    assert {id(s) for s in other} != {id(s) for s in drawn}


def test_stratified_sample_below_the_classes_or_above_the_rows() -> None:
    samples = shared_train("huffpost")
    with pytest.raises(ValueError, match="cannot keep all 41 classes"):
        stratified_sample(samples, 40, TASK, seed=0)
    drawn, rest = stratified_sample(samples, len(samples), TASK, seed=0)
    assert drawn == samples and rest == []


@pytest.mark.parametrize(("dataset", "limit"), [("huffpost", 1000), ("imdb", 1001)])
def test_data_limit_gives_exactly_limit_rows(dataset: str, limit: int) -> None:
    shared_train(dataset)
    data = DataConfig(train=SHARED / dataset / "train.jsonl.gz", limit=limit)
    splits = prepare_splits(data, TASK, seed=3)
    assert len(splits.train) + len(splits.validation) == limit
    assert set(splits.labels) == {s.target for s in shared_train(dataset)}
    again = prepare_splits(data, TASK, seed=3)
    assert [s.text for s in again.train] == [s.text for s in splits.train]


def test_data_limit_below_the_number_of_classes_is_a_clear_error() -> None:
    shared_train("huffpost")
    train = SHARED / "huffpost" / "train.jsonl.gz"
    with pytest.raises(
        DataError, match=r"limit = 40 is below the 41 classes of train.*at least 41"
    ):
        prepare_splits(DataConfig(train=train, limit=40), TASK, seed=0)
