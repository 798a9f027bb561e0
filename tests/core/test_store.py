from __future__ import annotations

from pathlib import Path

from pgkd.store import JsonlLog, atomic_replace_dir, atomic_write_json, read_jsonl


def test_a_torn_last_line_is_skipped_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    log = JsonlLog(path)
    log.append({"n": 1})
    log.append({"n": 2})
    log.close()
    with path.open("ab") as fh:
        fh.write(b'{"n": 3, "text": "half wri')  # a crash in the middle of a write
    assert [r["n"] for r in read_jsonl(path)] == [1, 2]
    log = JsonlLog(path)  # reopening cuts the torn tail so the next record stands alone
    log.append({"n": 4})
    log.close()
    assert [r["n"] for r in read_jsonl(path)] == [1, 2, 4]


def test_garbage_in_the_middle_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"n": 1}\nnot json\n[1, 2]\n{"n": 2}\n')
    assert [r["n"] for r in read_jsonl(path)] == [1, 2]


def test_atomic_json_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert target.read_text().strip().endswith("}")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_checkpoint_directory_is_replaced_whole(tmp_path: Path) -> None:
    best = tmp_path / "best"
    for version in ("v1", "v2"):
        staging = tmp_path / ".best.staging"
        staging.mkdir()
        (staging / "model.bin").write_text(version)
        atomic_replace_dir(staging, best)
    assert (best / "model.bin").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_a_crash_between_the_two_renames_is_recovered(tmp_path: Path) -> None:
    from pgkd.store import recover_dir

    old = tmp_path / ".best.old"
    old.mkdir()
    (old / "model.bin").write_text("v1")
    recover_dir(tmp_path / "best")
    assert (tmp_path / "best" / "model.bin").read_text() == "v1"
