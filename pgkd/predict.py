"""Label a file of texts with a saved student, streaming in batches so memory stays flat."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from pgkd.data import iter_records
from pgkd.errors import DataError


def _texts(path: Path, text_field: str) -> Iterator[tuple[int, str]]:
    for number, record in iter_records(path):
        text = record.get(text_field)
        if not isinstance(text, str):
            found = ", ".join(sorted(map(str, record)))
            raise DataError(
                f"{path}:{number}: no text field {text_field!r} (fields found: {found}); "
                "pass --text-field"
            )
        yield number, text


def _batches(rows: Iterator[tuple[int, str]], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for _, text in rows:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Writer:
    def __init__(self, fh: IO[str], fmt: str, top_k: int) -> None:
        self.fh, self.fmt = fh, fmt
        self.csv: Any = None
        if fmt == "csv":
            self.csv = csv.writer(fh)
            header = ["text", "label", "confidence"]
            for i in range(1, top_k + 1):
                header += [f"top{i}_label", f"top{i}_prob"]
            self.csv.writerow(header)

    def write(self, text: str, top: list[tuple[str, float]]) -> None:
        if self.csv is not None:
            row: list[Any] = [text, top[0][0], round(top[0][1], 6)]
            for label, prob in top:
                row += [label, round(prob, 6)]
            self.csv.writerow(row)
            return
        record = {
            "text": text,
            "label": top[0][0],
            "confidence": top[0][1],
            "top_k": [{"label": label, "prob": prob} for label, prob in top],
        }
        self.fh.write(orjson.dumps(record).decode() + "\n")


def predict_file(
    model_dir: Path,
    input_path: Path,
    output_path: Path,
    *,
    text_field: str = "text",
    top_k: int = 3,
    batch_size: int = 256,
) -> int:
    from pgkd.students.loading import load_student

    student = load_student(model_dir)
    labels = student.labels
    top_k = max(1, min(top_k, len(labels)))
    fmt = "csv" if output_path.suffix.lower() == ".csv" else "jsonl"
    output_path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    tmp = output_path.with_name(f".{output_path.name}.partial")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = _Writer(fh, fmt, top_k)
        for batch in _batches(_texts(input_path, text_field), batch_size):
            probs = student.predict_proba(batch)
            order = np.argsort(-probs, axis=1)[:, :top_k]
            for text, row, cols in zip(batch, probs, order, strict=True):
                writer.write(text, [(labels[int(c)], float(row[int(c)])) for c in cols])
            count += len(batch)
    tmp.replace(output_path)
    return count
