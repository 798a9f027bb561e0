"""Reading labelled data (JSONL, CSV, Parquet, gzip) and splitting it, with one-line errors that
name the file, the line and the fix."""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pgkd.errors import DataError
from pgkd.tasks.base import Task
from pgkd.types import Sample


@dataclass(frozen=True, slots=True)
class Splits:
    train: list[Sample]
    validation: list[Sample]
    test: list[Sample]
    loop_test: list[Sample]
    labels: tuple[str, ...]


def _open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise DataError(f"{path}: no such file; check [data] paths in the config")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; point the config at a file")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc})") from None
    if not raw.strip():
        raise DataError(f"{path}: the file is empty; it needs one labelled sample per line")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 (byte {exc.start}); re-save the file as UTF-8"
        ) from None
    return io.StringIO(text)


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    if ext in {".jsonl", ".json", ".ndjson"}:
        return "jsonl"
    if ext in {".csv", ".tsv"}:
        return "csv"
    if ext == ".parquet":
        return "parquet"
    raise DataError(f"{path}: unknown format {ext!r}; use .jsonl, .csv, .tsv or .parquet")


def iter_records(
    path: Path, *, csv_delimiter: str | None = None
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, record) pairs; the line number is 1-based (the header is line 1 in CSV)."""
    fmt = _format_of(path)
    if fmt == "parquet":
        yield from _iter_parquet(path)
        return
    fh = _open_text(path)
    if fmt == "jsonl":
        yield from _iter_jsonl(path, fh)
    else:
        yield from _iter_csv(path, fh, csv_delimiter)


def _iter_jsonl(path: Path, fh: io.TextIOBase) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for number, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{number}: not valid JSON ({exc.msg}); each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f'{path}:{number}: expected a JSON object like {{"text": ..., "label": ...}}'
            )
        yield number, record


def _iter_csv(
    path: Path, fh: io.TextIOBase, delimiter: str | None
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    text = fh.read()
    if delimiter is None:
        if path.suffix.lower() == ".tsv" or path.name.lower().endswith(".tsv.gz"):
            delimiter = "\t"
        else:
            try:
                delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    for row in reader:
        if None in row:
            raise DataError(
                f"{path}:{reader.line_num}: more fields than the header has; "
                "quote fields that contain the delimiter or set [data] csv_delimiter"
            )
        yield reader.line_num, row


def _iter_parquet(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    import pyarrow.parquet as pq

    if not path.exists():
        raise DataError(f"{path}: no such file; check [data] paths in the config")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    yield from enumerate(table.to_pylist(), start=1)


def load_samples(
    path: Path,
    task: Task,
    *,
    text_field: str = "text",
    label_field: str = "label",
    csv_delimiter: str | None = None,
) -> list[Sample]:
    """Every record of ``path`` as a sample of ``task``; the first bad record is a DataError."""
    samples: list[Sample] = []
    for number, record in iter_records(path, csv_delimiter=csv_delimiter):
        renamed = _rename_fields(record, text_field, label_field)
        try:
            samples.append(task.parse_record(renamed, origin="seed", step=0))
        except ValueError as exc:
            raise DataError(f"{path}:{number}: {exc}") from None
    if not samples:
        raise DataError(f"{path}: no samples found; it needs one labelled sample per line")
    return samples


def _rename_fields(record: Mapping[str, Any], text_field: str, label_field: str) -> dict[str, Any]:
    out = dict(record)
    if text_field != "text" and text_field in out:
        out["text"] = out.pop(text_field)
    if label_field != "label" and label_field in out:
        out["label"] = out.pop(label_field)
    return out


def stratified_split(
    samples: Sequence[Sample], fraction: float, task: Task, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Split off ``fraction`` of ``samples`` per stratum (at least one per stratum of two or
    more), seeded; returns (rest, held_out)."""
    rng = random.Random(seed)
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[task.stratum(sample)].append(sample)
    rest: list[Sample] = []
    held: list[Sample] = []
    for key in sorted(groups):
        group = groups[key][:]
        rng.shuffle(group)
        take = round(len(group) * fraction)
        take = min(max(take, 1), len(group) - 1) if len(group) >= 2 else 0
        held.extend(group[:take])
        rest.extend(group[take:])
    rng.shuffle(rest)
    rng.shuffle(held)
    return rest, held


def check_labels(
    task: Task, labels: Sequence[str], samples: Sequence[Sample], path: Path | None, split: str
) -> None:
    for number, sample in enumerate(samples, start=1):
        problem = task.label_errors(sample, labels)
        if problem:
            where = f"{path}" if path else split
            raise DataError(
                f"{where}: {split} sample {number}: {problem}, which train does not have; "
                "add training samples of it or drop it from the split"
            )


def prepare_splits(data: Any, task: Task, seed: int) -> Splits:
    """Load ``[data]`` (a :class:`pgkd.config.DataConfig`) into train/validation/test/loop-test."""
    fields = {"text_field": data.text_field, "label_field": data.label_field}
    fields["csv_delimiter"] = data.csv_delimiter
    train = load_samples(data.train, task, **fields)
    if data.limit and data.limit < len(train):
        train, _ = stratified_split(train, 1 - data.limit / len(train), task, seed)
    labels = task.labels_of(train)
    if len(labels) < 2:
        raise DataError(
            f"{data.train}: every sample has the label {labels[0]!r}; "
            "a classifier needs at least two classes"
        )
    if data.validation is not None:
        validation = load_samples(data.validation, task, **fields)
        check_labels(task, labels, validation, data.validation, "validation")
    else:
        if len(train) < 2 * len(labels):
            raise DataError(
                f"{data.train}: {len(train)} samples are too few to split off validation for "
                f"{len(labels)} classes; add samples or give [data] validation"
            )
        train, validation = stratified_split(train, data.validation_fraction, task, seed)
    loop_test: list[Sample] = []
    if data.loop_test_fraction:
        train, loop_test = stratified_split(train, data.loop_test_fraction, task, seed + 1)
    test: list[Sample] = []
    if data.test is not None:
        test = load_samples(data.test, task, **fields)
        check_labels(task, labels, test, data.test, "test")
    if not validation:
        raise DataError(f"{data.train}: the validation split came out empty; add samples")
    return Splits(train, validation, test, loop_test, labels)
