"""Reading records one at a time from JSONL, CSV/TSV or Parquet (optionally gzip), for files
larger than memory: ``pgkd predict`` holds one chunk of rows at a time, never the file.

(:func:`pgkd.data.iter_records` reads a whole training file at once, which is right for a few
thousand labelled rows and wrong for millions of texts to label.)
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any, cast

import orjson

from pgkd.errors import DataError

Record = Mapping[str, Any]
#: Rows pulled from a Parquet file per read.
PARQUET_BATCH_ROWS = 1024
SNIFF_BYTES = 8192


def input_format(path: Path) -> str:
    """``jsonl``, ``csv`` or ``parquet`` from the file name (``.gz`` is looked through)."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    if ext in {".jsonl", ".json", ".ndjson"}:
        return "jsonl"
    if ext in {".csv", ".tsv"}:
        return "csv"
    if ext == ".parquet":
        return "parquet"
    raise DataError(f"{path}: unknown format {ext!r}; use .jsonl, .csv, .tsv or .parquet")


def stream_records(
    path: Path, *, columns: Sequence[str] | None = None, csv_delimiter: str | None = None
) -> Iterator[tuple[int, Record]]:
    """(line number, record) pairs, read lazily. Line numbers are 1-based; in CSV the header
    is line 1; in Parquet the number is the row's position. ``columns`` limits what Parquet
    reads (other formats parse whole lines anyway)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; point at a file")
    fmt = input_format(path)
    if fmt == "parquet":
        yield from _parquet(path, columns)
        return
    with _open_text(path) as fh:
        if fmt == "jsonl":
            yield from _jsonl(path, fh)
        else:
            yield from _csv(path, fh, csv_delimiter)


def stream_open_records(
    path: str,
    raw: IO[bytes],
    *,
    columns: Sequence[str] | None = None,
    csv_delimiter: str | None = None,
) -> Iterator[tuple[int, Record]]:
    """The records of one file that is already open as (decompressed) bytes, numbered and
    parsed exactly as :func:`stream_records` does: how Ray Data's read tasks read a file from
    any filesystem. ``path`` names the file in messages and picks the format; Parquet needs a
    seekable ``raw``."""
    named = Path(path)
    fmt = input_format(named)
    if fmt == "parquet":
        yield from _parquet(named, columns, raw)
        return
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw))
    if fmt == "csv" and csv_delimiter is None:
        sample = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES].decode("utf-8-sig", errors="ignore")
        csv_delimiter = sniff_delimiter(named, sample)
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
    if fmt == "jsonl":
        yield from _jsonl(named, text)
    else:
        yield from _csv(named, text, csv_delimiter)


def chunks(rows: Iterator[tuple[int, Record]], size: int) -> Iterator[list[tuple[int, Record]]]:
    """Lists of at most ``size`` rows."""
    while chunk := list(islice(rows, size)):
        yield chunk


def _open_text(path: Path) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _lines(path: Path, fh: IO[str]) -> Iterator[tuple[int, str]]:
    number = 0
    try:
        for number, line in enumerate(fh, start=1):
            yield number, line
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}:{number + 1}: not UTF-8 (byte {exc.start}); re-save the file as UTF-8"
        ) from None
    except (OSError, EOFError) as exc:
        raise DataError(
            f"{path}:{number + 1}: cannot read ({exc}); is the file complete?"
        ) from None


def _jsonl(path: Path, fh: IO[str]) -> Iterator[tuple[int, Record]]:
    for number, line in _lines(path, fh):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{number}: not valid JSON ({exc.msg}); each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise DataError(f'{path}:{number}: expected a JSON object like {{"text": ...}}')
        yield number, record


def _csv(path: Path, fh: IO[str], delimiter: str | None) -> Iterator[tuple[int, Record]]:
    if delimiter is None:
        delimiter = _sniff(path, fh)
    reader = csv.DictReader(fh, delimiter=delimiter)
    try:
        for row in reader:
            if None in row:
                raise DataError(
                    f"{path}:{reader.line_num}: more fields than the header has; quote fields "
                    "that contain the delimiter"
                )
            yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}:{reader.line_num + 1}: not UTF-8 (byte {exc.start}); re-save as UTF-8"
        ) from None
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: bad CSV ({exc})") from None


def _sniff(path: Path, fh: IO[str]) -> str:
    sample = fh.read(SNIFF_BYTES)
    fh.seek(0)
    return sniff_delimiter(path, sample)


def sniff_delimiter(path: Path, sample: str) -> str:
    """The CSV delimiter: a tab for ``.tsv``, else guessed from the file's first bytes."""
    if path.name.lower().endswith((".tsv", ".tsv.gz")):
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _parquet(
    path: Path, columns: Sequence[str] | None, handle: IO[bytes] | None = None
) -> Iterator[tuple[int, Record]]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path if handle is None else handle)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    present = set(source.schema_arrow.names)
    wanted = [c for c in columns if c in present] if columns is not None else None
    number = 0
    for batch in source.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted):
        for record in batch.to_pylist():
            number += 1
            yield number, record


def estimate_rows(path: Path) -> int | None:
    """Rows in ``path`` for a progress bar: exact for Parquet, the line count for plain text
    (a CSV field with a newline counts twice), None for gzip (it would mean reading it twice)."""
    path = Path(path)
    try:
        fmt = input_format(path)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if path.suffix.lower() == ".gz":
            return None
        lines = 0
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                lines += block.count(b"\n")
        return max(0, lines - 1) if fmt == "csv" else lines
    except Exception:  # only an estimate: the real read reports problems properly
        return None
