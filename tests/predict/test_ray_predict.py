"""``pgkd predict --engine ray``: a local Ray with 2 workers writes the same records as the
single-process path, from JSONL, CSV and Parquet; errors stay one line; without Ray the engine
says how to install it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgkd.commands.cli import main
from pgkd.errors import ConfigError, DataError
from pgkd.serving.predict import PredictOptions, predict_file
from pgkd.serving.ray_predict import RayOptions, local_rows, predict_with_ray

ROOT = Path(__file__).parents[2]
TICKETS = ROOT / "examples" / "support_tickets" / "test.jsonl"


def ticket_rows(n: int) -> list[dict[str, Any]]:
    with open(TICKETS, encoding="utf-8") as fh:
        rows = [json.loads(line) for line, _ in zip(fh, range(n), strict=False)]
    return [{"id": f"t{i}", "text": row["text"]} for i, row in enumerate(rows)]


def rounded(value: Any) -> Any:
    """Records with floats cut to 6 decimals: a block that Ray batches differently pads
    differently, which may move the last bits of a probability."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def by_row(records: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rounded(r) for r in sorted(records, key=lambda r: (r.get("file", ""), r["row"]))]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One local Ray for the module (it takes seconds to start), stopped at the end."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


OPTIONS = PredictOptions(keep=("id",), chunk_rows=8)
TWO_WORKERS = RayOptions(workers=2, quiet=True)


@pytest.mark.slow
def test_two_ray_workers_write_what_the_local_path_writes(
    local_ray: Any, students: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ticket_rows(40)), encoding="utf-8")
    local_out = tmp_path / "local.jsonl"
    predict_file(students["frozen"], source, local_out, OPTIONS)
    out = tmp_path / "ray.jsonl"
    written = predict_with_ray(students["frozen"], str(source), str(out), OPTIONS, TWO_WORKERS)
    assert written == 40
    shards = sorted(out.iterdir())
    assert len(shards) >= 2 and all(s.suffix == ".jsonl" for s in shards)
    expected = [json.loads(line) for line in local_out.read_text(encoding="utf-8").splitlines()]
    assert by_row(local_rows(out)) == by_row(expected)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no partial folder left


@pytest.mark.slow
def test_a_folder_of_csv_and_parquet_files_becomes_parquet_shards(
    local_ray: Any, students: dict[str, Path], tmp_path: Path
) -> None:
    rows = ticket_rows(30)
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:14]), folder / "a.parquet")
    csv_lines = ["id,text", *(f'{r["id"]},"{r["text"]}"' for r in rows[14:])]
    (folder / "b.csv").write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
    out = tmp_path / "ray.parquet"
    options = PredictOptions(keep=("id",), chunk_rows=8)
    written = predict_with_ray(students["transformer"], str(folder), str(out), options, TWO_WORKERS)
    assert written == 30
    expected = []
    for name in ("a.parquet", "b.csv"):
        single = tmp_path / f"{name}.out.parquet"
        predict_file(students["transformer"], folder / name, single, options)
        file = str((folder / name).resolve())
        expected += [{"file": file, **r} for r in pq.read_table(single).to_pylist()]
    got = by_row(local_rows(out))
    assert [Path(r["file"]).name for r in got] == [Path(r["file"]).name for r in by_row(expected)]
    strip = [{k: v for k, v in r.items() if k != "file"} for r in got]
    assert strip == [{k: v for k, v in r.items() if k != "file"} for r in by_row(expected)]


@pytest.mark.slow
def test_a_bad_line_is_one_line_naming_it_and_leaves_no_output(
    local_ray: Any, students: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine"}\n{"text": oops}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid JSON") as caught:
        predict_with_ray(students["frozen"], str(source), str(out), OPTIONS, TWO_WORKERS)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == [source]


def test_without_ray_the_engine_says_how_to_install_it(
    students: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "hello"}\n', encoding="utf-8")
    args = ["predict", str(students["frozen"]), str(source), "--out", str(tmp_path / "o.jsonl")]
    assert main([*args, "--engine", "ray", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "pgkd: error: --engine ray needs Ray, which is not installed: pip install 'pgkd[ray]'"
    )
    with pytest.raises(ConfigError):
        predict_with_ray(students["frozen"], str(source), str(tmp_path / "o.jsonl"), OPTIONS)


def test_ray_refuses_csv_output_and_a_folder_that_holds_files(
    students: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "hello"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"end --out with .jsonl or .parquet"):
        predict_with_ray(students["frozen"], str(source), str(tmp_path / "o.csv"), OPTIONS)
    taken = tmp_path / "taken.jsonl"
    taken.mkdir()
    (taken / "old.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"already exists; .* remove it or choose another --out"):
        predict_with_ray(students["frozen"], str(source), str(taken), OPTIONS)
    missing = str(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match=r"missing.jsonl: no such file or folder; check the path"):
        predict_with_ray(students["frozen"], missing, str(tmp_path / "o.jsonl"), OPTIONS)


def test_ray_only_flags_need_the_ray_engine(
    students: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "hello"}\n', encoding="utf-8")
    args = ["predict", str(students["frozen"]), str(source), "--out", str(tmp_path / "o.jsonl")]
    assert main([*args, "--address", "ray://head:10001", "--quiet"]) == 2
    assert "--address: only with --engine ray" in capsys.readouterr().err
