"""``pgkd predict``: label a file of texts, one chunk at a time, so memory stays flat however
big the file is.

Input: JSONL, CSV/TSV or Parquet (optionally ``.gz`` for the text formats). Output, chosen by
the ``--out`` suffix: JSONL (``label``, ``confidence`` and a ``top_k`` list), CSV or Parquet
(flat ``topN_label``/``topN_prob`` columns). Each output row also carries ``row`` (the input's
line number), the ``--keep`` fields and the text unless ``--no-text``. The output is written to
a hidden partial file and renamed at the end, so a crash never leaves a half file under the
final name.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

from pgkd.errors import DataError
from pgkd.record_stream import Record, chunks, estimate_rows, stream_records

if TYPE_CHECKING:
    from pgkd.inference import Predictor

#: Rows held in memory at once; each chunk is tokenized, length-sorted and batched.
DEFAULT_CHUNK_ROWS = 2048
OUTPUT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
OUTPUT_FORMATS[".parquet"] = "parquet"


@dataclass(frozen=True)
class PredictOptions:
    text_field: str = "text"
    top_k: int = 3
    batch_size: int = 64
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    keep: Sequence[str] = ()
    include_text: bool = True
    quantize: str | None = None
    #: Called with (rows done, estimated total or None) after every chunk.
    progress: Callable[[int, int | None], None] | None = field(default=None, compare=False)


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown output format; end --out with .jsonl, .csv or .parquet")
    return fmt


@dataclass
class Columns:
    """One chunk's output, column by column."""

    rows: list[int]
    kept: dict[str, list[Any]]
    texts: list[str]
    top: list[list[tuple[str, float]]]

    def records(self, include_text: bool) -> list[dict[str, Any]]:
        out = []
        for i, number in enumerate(self.rows):
            record: dict[str, Any] = {"row": number}
            record.update({name: values[i] for name, values in self.kept.items()})
            if include_text:
                record["text"] = self.texts[i]
            record["label"], record["confidence"] = self.top[i][0]
            record["top_k"] = [{"label": label, "prob": prob} for label, prob in self.top[i]]
            out.append(record)
        return out

    def flat(self, include_text: bool, top_k: int) -> dict[str, list[Any]]:
        table: dict[str, list[Any]] = {"row": self.rows, **self.kept}
        if include_text:
            table["text"] = self.texts
        table["label"] = [top[0][0] for top in self.top]
        table["confidence"] = [top[0][1] for top in self.top]
        for k in range(top_k):
            table[f"top{k + 1}_label"] = [top[k][0] for top in self.top]
            table[f"top{k + 1}_prob"] = [top[k][1] for top in self.top]
        return table


class Writer:
    """Appends chunks to the output in its format; ``close`` finishes the file."""

    def __init__(self, path: Path, fmt: str, options: PredictOptions, top_k: int) -> None:
        self.path, self.fmt, self.options, self.top_k = path, fmt, options, top_k
        self.fh: IO[str] | None = None
        self.csv: Any = None
        self.parquet: Any = None
        if fmt != "parquet":
            self.fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - see close()

    def write(self, columns: Columns) -> None:
        if self.fmt == "jsonl":
            assert self.fh is not None
            for record in columns.records(self.options.include_text):
                self.fh.write(orjson.dumps(record).decode() + "\n")
            return
        table = columns.flat(self.options.include_text, self.top_k)
        if self.fmt == "csv":
            self._write_csv(table)
        else:
            self._write_parquet(table)

    def _write_csv(self, table: dict[str, list[Any]]) -> None:
        if self.csv is None:
            assert self.fh is not None
            self.csv = csv.writer(self.fh)
            self.csv.writerow(list(table))
        self.csv.writerows(zip(*table.values(), strict=True))

    def _write_parquet(self, table: dict[str, list[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        batch = pa.table(table)
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(str(self.path), batch.schema)
        try:
            batch = batch.cast(self.parquet.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"{self.path.name}: a --keep field changes type between chunks ({exc}); "
                "write .jsonl or .csv instead"
            ) from None
        self.parquet.write_table(batch)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        if self.parquet is not None:
            self.parquet.close()


def _chunk_columns(
    path: Path, rows: list[tuple[int, Record]], options: PredictOptions
) -> tuple[list[int], list[str], dict[str, list[Any]]]:
    numbers, texts = [], []
    kept: dict[str, list[Any]] = {name: [] for name in options.keep}
    for number, record in rows:
        text = record.get(options.text_field)
        if not isinstance(text, str):
            found = ", ".join(sorted(map(str, record))) or "none"
            raise DataError(
                f"{path}:{number}: no text in field {options.text_field!r} (fields found: "
                f"{found}); pass --text-field"
            )
        numbers.append(number)
        texts.append(text)
        for name in options.keep:
            kept[name].append(record.get(name))
    return numbers, texts, kept


def top_labels(
    probs: npt.NDArray[np.float32], labels: Sequence[str], k: int
) -> list[list[tuple[str, float]]]:
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [
        [(labels[int(c)], float(row[int(c)])) for c in cols]
        for row, cols in zip(probs, order, strict=True)
    ]


def predict_file(
    model_dir: Path, input_path: Path, output_path: Path, options: PredictOptions | None = None
) -> int:
    """Label every record of ``input_path`` with the model in ``model_dir`` (a run directory,
    its ``best/``, or a ``pgkd export`` folder); returns the number of rows written."""
    from pgkd.inference import load_predictor

    options = options or PredictOptions()
    output_format(output_path)  # refuse a bad --out before loading a model
    predictor = load_predictor(model_dir, quantize=options.quantize, batch_size=options.batch_size)
    return predict_records(predictor, input_path, output_path, options)


def predict_records(
    predictor: Predictor, input_path: Path, output_path: Path, options: PredictOptions
) -> int:
    """Stream ``input_path`` through a loaded predictor into ``output_path``."""
    if options.chunk_rows < 1 or options.batch_size < 1:
        raise DataError("--chunk-rows and --batch-size must be at least 1")
    fmt = output_format(output_path)
    labels = predictor.labels
    top_k = max(1, min(options.top_k, len(labels)))
    columns = [options.text_field, *options.keep]
    output_path.parent.mkdir(parents=True, exist_ok=True)
    partial = output_path.with_name(f".{output_path.name}.partial")
    writer = Writer(partial, fmt, options, top_k)
    total = estimate_rows(input_path) if options.progress is not None else None
    count = 0
    try:
        for rows in chunks(stream_records(input_path, columns=columns), options.chunk_rows):
            numbers, texts, kept = _chunk_columns(input_path, rows, options)
            top = top_labels(predictor.predict_proba(texts), labels, top_k)
            writer.write(Columns(numbers, kept, texts, top))
            count += len(rows)
            if options.progress is not None:
                options.progress(count, total)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    if count == 0:
        partial.unlink(missing_ok=True)
        raise DataError(f"{input_path}: no records to label")
    partial.replace(output_path)
    return count
