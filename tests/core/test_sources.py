"""Labelled data from where users keep it: DataFrames, lists of dicts, ``datasets`` data sets in
memory, ``save_to_disk`` folders and ``hf:`` references read the same samples as a file, with the
same field renames and the same one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pytest

from pgkd.config import DataConfig, config_from_mapping, load_config
from pgkd.data import load_samples, prepare_splits
from pgkd.errors import ConfigError, DataError
from pgkd.sources import Rows
from pgkd.tasks.classification import ClassificationTask

TASK = ClassificationTask()
ROWS = [
    {"body": "my invoice is wrong", "intent": "billing", "id": 1},
    {"body": "the app crashes on start", "intent": "bug", "id": 2},
    {"body": "charged twice this month", "intent": "billing", "id": 3},
    {"body": "button does nothing", "intent": "bug", "id": 4},
]
EXPECTED = [(r["body"], r["intent"]) for r in ROWS]
RENAMES = {"text_field": "body", "label_field": "intent"}


def pairs(source: Any, split: str = "train") -> list[tuple[str, str]]:
    data = DataConfig.model_validate({"train": source, **RENAMES})
    samples = load_samples(data.train, TASK, **RENAMES, split=split)
    return [(s.text, str(s.target)) for s in samples]


def class_label_dataset(rows: list[dict[str, Any]]) -> datasets.Dataset:
    """``rows`` with ``intent`` stored as a ClassLabel (integers), as hub data sets store it."""
    names = ["billing", "bug"]
    features = datasets.Features(
        {
            "body": datasets.Value("string"),
            "intent": datasets.ClassLabel(names=names),
            "id": datasets.Value("int64"),
        }
    )
    return datasets.Dataset.from_list(
        [{**r, "intent": names.index(r["intent"])} for r in rows], features=features
    )


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``load_dataset`` prepares goes to the test's folder, not the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A DatasetDict saved with save_to_disk: train (the four rows) and test (two of them)."""
    folder = tmp_path / "tickets_disk"
    datasets.DatasetDict(
        {"train": class_label_dataset(ROWS), "test": class_label_dataset(ROWS[:2])}
    ).save_to_disk(str(folder))
    return folder


def test_every_kind_of_source_reads_the_same_samples_with_the_same_renames(
    tmp_path: Path, saved: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    single = tmp_path / "single_disk"
    class_label_dataset(ROWS).save_to_disk(str(single))
    hub_folder = tmp_path / "hub_layout"  # a data set repository's layout, loaded by NAME
    hub_folder.mkdir()
    (hub_folder / "train.jsonl").write_text(path.read_text(), encoding="utf-8")
    sources = {
        "file": path,
        "DataFrame": pd.DataFrame(ROWS),
        "list of dicts": ROWS,
        "Dataset": class_label_dataset(ROWS),
        "DatasetDict": datasets.DatasetDict({"train": class_label_dataset(ROWS)}),
        "save_to_disk DatasetDict": saved,
        "save_to_disk Dataset": single,
        "hf:": f"hf:{hub_folder}",
    }
    for name, source in sources.items():
        assert pairs(source) == EXPECTED, name


def test_a_source_with_splits_gives_the_split_named_like_the_key_or_the_one_named(
    saved: Path,
) -> None:
    config = config_from_mapping(
        {"data": {"train": str(saved), "test": f"{saved}@test", "validation": str(saved)}}
    )
    assert config.data.test == Path(f"{saved}@test")
    with pytest.raises(DataError) as info:
        prepare_splits(config.data.model_copy(update=RENAMES), TASK, 0)
    message = str(info.value)
    assert message == (
        f"{saved}: no split 'validation' (splits: train, test); name one with {saved}@SPLIT"
    )
    data = config.data.model_copy(update={**RENAMES, "validation": Path(f"{saved}@train")})
    splits = prepare_splits(data, TASK, 0)
    assert [s.text for s in splits.test] == [r["body"] for r in ROWS[:2]]
    assert splits.labels == ("billing", "bug")


def test_in_memory_rows_are_plain_json_whatever_the_dataframe_holds() -> None:
    frame = pd.DataFrame(
        {
            "text": ["a text", "another"],
            "label": pd.Series([3, 4], dtype="int64"),
            "score": [0.5, float("nan")],
            "when": pd.to_datetime(["2024-01-02", "2024-01-03"]),
        }
    )
    data = DataConfig.model_validate({"train": frame})
    assert isinstance(data.train, Rows)
    first, second = data.train.records
    assert first["label"] == 3 and type(first["label"]) is int
    assert second["score"] is None
    assert first["when"].startswith("2024-01-02")
    assert [s.target for s in load_samples(data.train, TASK)] == ["3", "4"]
    json.dumps(data.train.records)  # everything has a JSON form


def test_toml_keys_take_hub_references_and_folders(tmp_path: Path, saved: Path) -> None:
    config_file = tmp_path / "run.toml"
    config_file.write_text(
        '[data]\ntrain = "hf:ag_news"\ntest = "tickets_disk@test"\n', encoding="utf-8"
    )
    config = load_config(config_file)
    assert config.data.train == "hf:ag_news"
    assert config.data.test == (tmp_path / "tickets_disk@test").resolve()
    assert config.to_toml_dict()["data"]["train"] == "hf:ag_news"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, "[data] train: Value error, expected a data file (.jsonl, .csv, .tsv, .parquet)"),
        ("hf:", "[data] train: Value error, 'hf:' names no data set"),
        ([], "[data] train: Value error, the list of rows is empty"),
    ],
)
def test_a_value_no_source_can_be_is_a_one_line_config_error(value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"data": {"train": value}}, source="api")
    assert str(info.value).startswith(f"api: {expected}")
    assert "\n" not in str(info.value)


def test_bad_rows_name_their_row(tmp_path: Path) -> None:
    rows = [{"text": "fine", "label": "a"}, {"text": "  ", "label": "b"}]
    with pytest.raises(DataError) as info:
        pairs_plain(rows)
    assert (
        str(info.value)
        == "[data] train (a list of dicts) row 2: 'text' is empty; drop the row or fill it in"
    )
    with pytest.raises(DataError, match=r"row 1: missing field\(s\) text \(fields found: body"):
        pairs_plain(pd.DataFrame([{"body": "x", "label": "a"}]))


def pairs_plain(source: Any) -> list[Any]:
    data = DataConfig.model_validate({"train": source})
    return load_samples(data.train, TASK)


def test_dataset_problems_are_one_line_errors(tmp_path: Path, saved: Path) -> None:
    plain_folder = tmp_path / "plain"
    plain_folder.mkdir()
    (plain_folder / "notes.txt").write_text("hello", encoding="utf-8")
    problems = {
        str(plain_folder): "is a folder, not one saved with datasets' save_to_disk",
        f"{saved}@dev": "no split 'dev' (splits: train, test)",
        "hf:pgkd-tests/no-such-dataset": "offline mode is on",
        f"hf:{tmp_path / 'empty_repo'}@train": "could not load it",
        f"hf:{tmp_path / 'repo'}@validation": (
            "Unknown split \"validation\". Should be one of ['train']; name the split with "
            f"hf:{tmp_path / 'repo'}@SPLIT"
        ),
    }
    (tmp_path / "empty_repo").mkdir()
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "train.jsonl").write_text('{"text": "a", "label": "b"}\n')
    for value, expected in problems.items():
        with pytest.raises(DataError) as info:
            pairs_plain(value)
        assert expected in str(info.value), value
        assert "\n" not in str(info.value)
    with pytest.raises(DataError) as info:
        DataConfig.model_validate(
            {
                "validation": datasets.DatasetDict({"train": class_label_dataset(ROWS)}),
                "train": ROWS,
            }
        )
    assert str(info.value) == (
        "the DatasetDict given for validation: no split 'validation' (splits: train); "
        "pass one split, e.g. data['train']"
    )


def test_without_the_datasets_library_hub_data_says_how_to_install_it(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    for value in (str(saved), "hf:ag_news"):
        with pytest.raises(DataError) as info:
            pairs_plain(value)
        assert str(info.value).endswith(
            "reading it needs the datasets library; pip install 'pgkd[datasets]'"
        )
