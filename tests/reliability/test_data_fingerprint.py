"""``inputs.json`` fingerprints the rows a run read, whatever held them, so ``pgkd resume``
refuses changed data; a run given rows in memory keeps a copy and resumes from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pytest

from pgkd.config import config_from_mapping
from pgkd.errors import RunDirError
from pgkd.runner import RunDirectory, resume, run
from tests.reliability.resume_kit import QUIET, Crash, CrashInStep

CHANGED = r"data changed since the run started \(\[data\] {}\)"


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_rows(path: Path, rows: list[dict[str, Any]], **dumps: Any) -> Path:
    path.write_text("".join(json.dumps(r, **dumps) + "\n" for r in rows), encoding="utf-8")
    return path


def test_rows_given_in_memory_are_kept_in_the_run_and_fingerprinted(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    frame = pd.DataFrame(read_rows(tickets["train"]))
    config = config_from_mapping({"data": {"train": frame, "test": str(tickets["test"])}})
    run_dir = RunDirectory(tmp_path / "run")
    saved = run_dir.create(config, overwrite=False)
    kept = tmp_path / "run" / "data" / "train.jsonl"
    assert saved.data.train == kept.resolve()
    assert read_rows(kept) == frame.to_dict(orient="records")
    assert 'train = "data/train.jsonl"' in run_dir.config_path.read_text(encoding="utf-8")
    inputs = json.loads((tmp_path / "run" / "inputs.json").read_text(encoding="utf-8"))
    assert inputs["train"]["rows"] == len(frame) and inputs["validation"] is None
    # The saved config reads the copy, relative to the run directory, even once it moved.
    moved = RunDirectory(tmp_path / "moved")
    shutil.copytree(run_dir.path, moved.path)
    loaded = moved.load_config()
    assert loaded.data.train == (moved.path / "data" / "train.jsonl").resolve()
    moved.check_resumable(loaded, None)
    rows = read_rows(moved.path / "data" / "train.jsonl")
    rows[0]["label"] = "something_else"
    write_rows(moved.path / "data" / "train.jsonl", rows)
    with pytest.raises(RunDirError, match=CHANGED.format("train")):
        moved.check_resumable(loaded, None)


def test_the_fingerprint_is_of_the_rows_not_the_bytes(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    rows = read_rows(tickets["train"])
    train = write_rows(tmp_path / "train.jsonl", rows)
    config = config_from_mapping({"data": {"train": str(train)}})
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(config, overwrite=False)
    # Same rows written differently (spacing, key order): the same data.
    write_rows(train, [dict(reversed(r.items())) for r in rows], indent=None, separators=(",", ":"))
    run_dir.check_resumable(config, None)
    rows[3]["text"] += " (edited)"
    write_rows(train, rows)
    with pytest.raises(RunDirError, match=CHANGED.format("train")):
        run_dir.check_resumable(config, None)


def test_a_changed_save_to_disk_folder_is_refused(tickets: dict[str, Path], tmp_path: Path) -> None:
    rows = read_rows(tickets["train"])
    folder = tmp_path / "saved"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows), "test": datasets.Dataset.from_list(rows[:30])}
    ).save_to_disk(str(folder))
    config = config_from_mapping({"data": {"train": str(folder), "test": str(folder)}})
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(config, overwrite=False)
    run_dir.check_resumable(config, None)
    rows_test = [{**r, "label": "billing"} for r in rows[:30]]
    shutil.rmtree(folder)
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows), "test": datasets.Dataset.from_list(rows_test)}
    ).save_to_disk(str(folder))
    with pytest.raises(RunDirError, match=CHANGED.format("test")):
        run_dir.check_resumable(config, None)


def test_a_run_recorded_with_file_hashes_is_still_checked(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    import hashlib

    train = tmp_path / "train.jsonl"
    shutil.copy(tickets["train"], train)
    config = config_from_mapping({"data": {"train": str(train)}})
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.create(config, overwrite=False)
    old = {
        "train": hashlib.sha256(train.read_bytes()).hexdigest(),
        "validation": None,
        "test": None,
    }
    (run_dir.path / "inputs.json").write_text(json.dumps(old), encoding="utf-8")
    run_dir.check_resumable(config, None)
    with train.open("a") as fh:
        fh.write('{"text": "one more ticket about billing", "label": "billing"}\n')
    with pytest.raises(RunDirError, match=CHANGED.format("train")):
        run_dir.check_resumable(config, None)


def test_a_run_from_a_dataframe_resumes_like_an_uninterrupted_one(
    tickets: dict[str, Path], tmp_path: Path
) -> None:
    raw = {
        "data": {"train": pd.DataFrame(read_rows(tickets["train"])), "test": str(tickets["test"])},
        "teacher": {"model": f"pool:{tickets['pool']}", "concurrency": 2},
        "student": {"kind": "frozen", "max_length": 64},
        "kd": {"steps": 3, "patience": 5, "batch_size": 8},
    }
    whole = run(
        config_from_mapping(raw), tmp_path / "whole", progress=QUIET, entry_points_enabled=False
    )
    broken = tmp_path / "broken"
    with pytest.raises(Crash):
        run(
            config_from_mapping(raw),
            broken,
            progress=QUIET,
            extra_plugins=[CrashInStep(2)],
            entry_points_enabled=False,
        )
    resumed = resume(broken, progress=QUIET, entry_points_enabled=False)
    assert resumed["steps_run"] == whole["steps_run"] == 3
    for key in ("best_step", "model_0", "best", "samples", "history_size"):
        assert resumed[key] == whole[key], key
