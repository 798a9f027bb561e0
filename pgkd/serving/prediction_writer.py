"""Writing ``pgkd predict`` output chunk by chunk, as JSONL, CSV or Parquet.

A chunk of predictions is either :class:`LabelColumns` (a classifier's top-k labels) or
:class:`RecordColumns` (the records a :class:`~pgkd.serving.inference.RecordPredictor` made, for
tasks other than classification). Both start every row with ``row`` (the input's line number), the
``--keep`` fields and, unless ``--no-text``, the text.

- JSONL holds each record as it is, nested lists included.
- CSV has one column per field; a list or object (NER's ``entities``) is written as its JSON
  text in the cell, so ``json.loads`` reads it back.
- Parquet keeps nested fields as Arrow lists and structs; column types are fixed by the first
  chunk (or by the predictor's ``prediction_schema()``) and every later chunk must fit them.

"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from pgkd.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

OUTPUT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
OUTPUT_FORMATS[".parquet"] = "parquet"


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown output format; end --out with .jsonl, .csv or .parquet")
    return fmt


@dataclass
class ChunkRows:
    """What every output row starts with: input line numbers, ``--keep`` fields, texts."""

    rows: list[int]
    kept: dict[str, list[Any]]
    texts: list[str]

    def record(self, i: int, include_text: bool) -> dict[str, Any]:
        record: dict[str, Any] = {"row": self.rows[i]}
        record.update({name: values[i] for name, values in self.kept.items()})
        if include_text:
            record["text"] = self.texts[i]
        return record

    def table(self, include_text: bool) -> dict[str, list[Any]]:
        table: dict[str, list[Any]] = {"row": self.rows, **self.kept}
        if include_text:
            table["text"] = self.texts
        return table


@dataclass
class LabelColumns:
    """A classifier's chunk: ``label``, ``confidence`` and the top ``top_k`` labels per row
    (a ``top_k`` list in JSONL, flat ``topN_label``/``topN_prob`` columns otherwise)."""

    base: ChunkRows
    top: list[list[tuple[str, float]]]
    top_k: int

    def records(self, include_text: bool) -> list[dict[str, Any]]:
        out = []
        for i, top in enumerate(self.top):
            record = self.base.record(i, include_text)
            record["label"], record["confidence"] = top[0]
            record["top_k"] = [{"label": label, "prob": prob} for label, prob in top]
            out.append(record)
        return out

    def table(self, include_text: bool) -> dict[str, list[Any]]:
        table = self.base.table(include_text)
        table["label"] = [top[0][0] for top in self.top]
        table["confidence"] = [top[0][1] for top in self.top]
        for k in range(self.top_k):
            table[f"top{k + 1}_label"] = [top[k][0] for top in self.top]
            table[f"top{k + 1}_prob"] = [top[k][1] for top in self.top]
        return table

    def arrow_types(self) -> dict[str, pa.DataType]:
        return {}


@dataclass
class RecordColumns:
    """A chunk of a :class:`~pgkd.serving.inference.RecordPredictor`'s records, one per row; their
    fields follow ``row``, the ``--keep`` fields and the text. ``schema`` (optional) types the
    record's fields in Parquet."""

    base: ChunkRows
    predicted: list[dict[str, Any]]
    schema: pa.Schema | None = None

    def __post_init__(self) -> None:
        if len(self.predicted) != len(self.base.rows):
            raise DataError(
                f"the student returned {len(self.predicted)} records for "
                f"{len(self.base.rows)} texts; its prediction_records must return one per text"
            )

    def records(self, include_text: bool) -> list[dict[str, Any]]:
        out = []
        for i, predicted in enumerate(self.predicted):
            record = self.base.record(i, include_text)
            clash = record.keys() & predicted.keys()
            if clash:
                raise DataError(
                    f"the student's records have the field(s) {sorted(clash)} that pgkd predict "
                    "writes itself; --keep other fields (or rename them in the input)"
                )
            record.update(predicted)
            out.append(record)
        return out

    def table(self, include_text: bool) -> dict[str, list[Any]]:
        records = self.records(include_text)
        names = dict.fromkeys(name for record in records for name in record)
        if self.schema is not None:
            names.update(dict.fromkeys(self.schema.names))
        return {name: [record.get(name) for record in records] for name in names}

    def arrow_types(self) -> dict[str, pa.DataType]:
        if self.schema is None:
            return {}
        return {field.name: field.type for field in self.schema}


Chunk = LabelColumns | RecordColumns


class Writer:
    """Appends chunks to the output in its format; ``close`` finishes the file."""

    def __init__(self, path: Path, fmt: str, include_text: bool) -> None:
        self.path, self.fmt, self.include_text = path, fmt, include_text
        self.fh: IO[str] | None = None
        self.csv: Any = None
        self.header: list[str] = []
        self.parquet: Any = None
        if fmt != "parquet":
            self.fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - see close()

    def write(self, chunk: Chunk) -> None:
        if self.fmt == "jsonl":
            assert self.fh is not None
            for record in chunk.records(self.include_text):
                self.fh.write(orjson.dumps(record).decode() + "\n")
            return
        table = chunk.table(self.include_text)
        if self.fmt == "csv":
            self._write_csv(table)
        else:
            self._write_parquet(table, chunk.arrow_types())

    def _write_csv(self, table: dict[str, list[Any]]) -> None:
        if self.csv is None:
            assert self.fh is not None
            self.csv = csv.writer(self.fh)
            self.header = list(table)
            self.csv.writerow(self.header)
        elif list(table) != self.header:
            raise DataError(
                f"{self.path.name}: the student's records changed fields between chunks "
                f"({self.header} then {list(table)}); write .jsonl instead"
            )
        columns = [[_csv_cell(value) for value in values] for values in table.values()]
        self.csv.writerows(zip(*columns, strict=True))

    def _write_parquet(self, table: dict[str, list[Any]], types: dict[str, pa.DataType]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            batch = pa.table(
                {name: pa.array(values, type=types.get(name)) for name, values in table.items()}
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"{self.path.name}: a column does not fit Parquet ({exc}); write .jsonl instead"
            ) from None
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(str(self.path), batch.schema)
        try:
            batch = batch.cast(self.parquet.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError) as exc:
            raise DataError(
                f"{self.path.name}: a column changes type between chunks (a --keep field, or "
                f"a field of the student's records) ({exc}); write .jsonl or .csv instead"
            ) from None
        self.parquet.write_table(batch)

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
        if self.parquet is not None:
            self.parquet.close()


def _csv_cell(value: Any) -> Any:
    """A list or object as its JSON text; anything else as it is."""
    if isinstance(value, list | tuple | dict):
        return orjson.dumps(value).decode()
    return value
