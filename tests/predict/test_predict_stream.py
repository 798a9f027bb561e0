"""``pgkd predict``: every input format streamed in chunks, top-k output in every output format,
the optimized paths (int8, ONNX), one-line errors, and flat memory on a big file."""

from __future__ import annotations

import csv
import gzip
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pgkd.commands.cli import main
from pgkd.serving.inference import load_predictor
from pgkd.serving.predict import PredictOptions, predict_file, predict_records
from pgkd.students.loading import load_student
from tests.predict.tiny_students import TICKETS, read_samples

HELD = read_samples(TICKETS / "test.jsonl")
TEXTS = [s.text for s in HELD]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def records(n: int = len(TEXTS)) -> list[dict[str, object]]:
    return [{"id": f"r{i}", "body": TEXTS[i % len(TEXTS)]} for i in range(n)]


def test_jsonl_to_jsonl_matches_the_student(students: dict[str, Path], tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", records())
    out = tmp_path / "out.jsonl"
    options = PredictOptions(text_field="body", top_k=2, chunk_rows=7, keep=("id",))

    count = predict_file(students["frozen"], source, out, options)

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    student = load_student(students["frozen"])
    expected = student.predict_proba(TEXTS)
    assert count == len(rows) == len(TEXTS)
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(TEXTS))]
    assert [r["row"] for r in rows] == list(range(1, len(TEXTS) + 1))
    for row, probs in zip(rows, expected, strict=True):
        assert row["label"] == student.labels[int(np.argmax(probs))]
        assert len(row["top_k"]) == 2 and row["top_k"][0]["label"] == row["label"]
        assert row["top_k"][0]["prob"] >= row["top_k"][1]["prob"]
        assert row["confidence"] == pytest.approx(float(probs.max()), abs=1e-5)


def test_csv_gz_and_parquet_inputs_and_outputs(students: dict[str, Path], tmp_path: Path) -> None:
    rows = records(30)
    with open(tmp_path / "in.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "body"])
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet", row_group_size=8)
    write_jsonl(tmp_path / "in.jsonl.gz", rows)
    options = PredictOptions(text_field="body", keep=("id",), chunk_rows=8)
    labels: dict[str, list[str]] = {}

    for name, out in (("in.csv", "o.csv"), ("in.parquet", "o.parquet"), ("in.jsonl.gz", "o.jsonl")):
        predict_file(students["frozen"], tmp_path / name, tmp_path / out, options)

    with open(tmp_path / "o.csv", encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0])[:5] == ["row", "id", "text", "label", "confidence"]
    labels["csv"] = [r["label"] for r in table]
    parquet = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert {"top3_label", "top3_prob"} <= set(parquet[0])
    labels["parquet"] = [r["label"] for r in parquet]
    labels["jsonl"] = [
        json.loads(line)["label"] for line in (tmp_path / "o.jsonl").read_text().splitlines()
    ]
    assert labels["csv"] == labels["parquet"] == labels["jsonl"]
    assert [r["id"] for r in parquet] == [r["id"] for r in rows]


@pytest.mark.parametrize("kind", ["transformer", "frozen"])
def test_int8_agrees_with_fp32(kind: str, students: dict[str, Path]) -> None:
    fp32 = load_predictor(students[kind]).predict_proba(TEXTS)
    int8 = load_predictor(students[kind], quantize="int8").predict_proba(TEXTS)

    # A tiny random-init model has near-tied logits, the hardest case for int8.
    assert np.mean(fp32.argmax(1) == int8.argmax(1)) >= 0.95
    assert np.allclose(int8.sum(axis=1), 1.0, atol=1e-4)


def test_memory_stays_flat_on_a_file_ten_times_the_chunk(
    students: dict[str, Path], tmp_path: Path
) -> None:
    chunk = 32
    long_text = " ".join(TEXTS[:40])  # ~2.5 kB a row: reading the whole file would show
    small = write_jsonl(tmp_path / "small.jsonl", [{"text": long_text}] * chunk)
    big = write_jsonl(tmp_path / "big.jsonl", [{"text": long_text}] * (10 * chunk))
    options = PredictOptions(chunk_rows=chunk, include_text=False)
    predictor = load_predictor(students["frozen"])
    predict_records(predictor, small, tmp_path / "warm.jsonl", options)
    peaks = []
    for source in (small, big):
        tracemalloc.start()
        predict_records(predictor, source, tmp_path / "o.jsonl", options)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()

    assert big.stat().st_size > 700_000
    # One chunk in memory at a time: reading the file whole would add ~5 MB here.
    assert peaks[1] < peaks[0] * 1.3 + 100_000, peaks


def test_bad_input_is_one_line(
    students: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "fine"}, {"body": "no text"}])
    code = main(
        ["predict", str(students["frozen"]), str(source), "--out", str(tmp_path / "o.jsonl")]
    )

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert f"{source}:2" in err and "--text-field" in err
    assert not (tmp_path / "o.jsonl").exists()
    assert not list(tmp_path.glob(".o.jsonl*"))  # no partial file left behind


def test_cli_predicts_from_a_run_directory(
    students: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "best").symlink_to(students["transformer"], target_is_directory=True)
    out = tmp_path / "p.csv"
    code = main(
        [
            "predict",
            str(run),
            str(TICKETS / "test.jsonl"),
            "--out",
            str(out),
            "--top-k",
            "1",
            "--quiet",
        ]
    )

    assert code == 0
    assert f"wrote {len(TEXTS)} predictions" in capsys.readouterr().out
    header = out.read_text().splitlines()[0].split(",")
    assert header[-2:] == ["top1_label", "top1_prob"]


def test_classifier_output_keeps_its_columns(
    students: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", records(5))
    argv = ["predict", str(students["frozen"]), str(source), "--text-field", "body", "--keep", "id"]
    for name in ("o.jsonl", "o.csv"):
        assert main([*argv, "--out", str(tmp_path / name), "--quiet"]) == 0

    row = json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])
    assert list(row) == ["row", "id", "text", "label", "confidence", "top_k"]
    assert len(row["top_k"]) == 3  # the default --top-k
    header = (tmp_path / "o.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["row", "id", "text", "label", "confidence"]
    assert header[5:] == [f"top{k}_{part}" for k in (1, 2, 3) for part in ("label", "prob")]
