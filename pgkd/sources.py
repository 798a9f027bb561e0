"""Where labelled rows come from: a file, a Hugging Face data set, or rows held in memory.

A ``[data] train`` / ``validation`` / ``test`` value is one of

- a file path (``.jsonl``, ``.csv``, ``.tsv``, ``.parquet``, optionally ``.gz``);
- a folder written by ``datasets``' ``save_to_disk`` (a ``Dataset``, or a ``DatasetDict`` whose
  split named like the key is read; ``FOLDER@SPLIT`` names another split);
- ``"hf:NAME[:CONFIG][@SPLIT]"``, loaded with ``datasets.load_dataset`` (its offline mode and
  cache apply; the split defaults to the key's name);
- from Python only: a pandas DataFrame, a list of dicts, a ``datasets.Dataset`` or a
  ``DatasetDict`` (its split named like the key), held as :class:`Rows`.

Every kind yields the same (number, record) pairs, so field renames, parsing and the one-line
errors are the same for all of them. The ``datasets`` library is needed only for the Hugging Face
kinds (``pip install 'pgkd[datasets]'``) and is imported only when one is used.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgkd.errors import DataError
from pgkd.serving.record_stream import stream_records

#: The prefix of a Hugging Face data set reference in the TOML.
HUB_PREFIX = "hf:"
SPLIT_MARK = "@"
#: What a ``[data]`` key may name, for messages.
ACCEPTED = (
    "a data file (.jsonl, .csv, .tsv, .parquet), a folder saved with datasets' save_to_disk, "
    "'hf:NAME[:CONFIG]', or from Python a DataFrame, a list of dicts or a datasets.Dataset"
)
Record = Mapping[str, Any]


class Rows:
    """Labelled records held in memory (from a DataFrame, a list of dicts or a ``datasets``
    data set), each made of plain JSON values so that writing them to a run directory and
    reading them back gives the same records, and the same fingerprint."""

    __slots__ = ("kind", "records")

    def __init__(self, records: Sequence[Mapping[str, Any]], kind: str) -> None:
        self.records: tuple[dict[str, Any], ...] = tuple(
            {str(key): plain_value(value) for key, value in record.items()} for record in records
        )
        self.kind = kind

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"<{len(self.records)} rows from a {self.kind}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rows) and self.records == other.records

    def __hash__(self) -> int:
        return hash((self.kind, len(self.records)))


#: What a ``[data]`` key holds once validated.
DataSource = Path | str | Rows


def plain_value(value: Any) -> Any:
    """``value`` as plain JSON data: numpy and pandas scalars unwrapped, NaN and NA as None,
    arrays as lists, anything else without a JSON form as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "ndim", None) == 0:
        return plain_value(item())
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return plain_value(tolist())
    if _is_missing(value):
        return None
    return str(value)


def _is_missing(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return False
    try:
        return bool(pandas.isna(value))
    except (TypeError, ValueError):
        return False


def in_memory_rows(value: Any, split: str) -> Rows | None:
    """:class:`Rows` for a DataFrame, a list of dicts, a ``datasets.Dataset`` or a
    ``DatasetDict`` (its split ``split``); None when ``value`` is none of them. A
    ``DatasetDict`` without that split is a DataError naming the splits it has."""
    if isinstance(value, Rows):
        return value
    if _is_dataframe(value):
        return Rows(value.to_dict(orient="records"), "DataFrame")
    if isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
        return Rows(value, "list of dicts")
    if isinstance(value, list | tuple) and not value:
        raise ValueError("the list of rows is empty; it needs labelled samples")
    if _is_hf(value):
        from pgkd.hf_data import dataset_records, pick_split

        where = f"the DatasetDict given for {split}"
        dataset = pick_split(value, split, where=where, fix="pass one split, e.g. data['train']")
        return Rows(list(dataset_records(dataset)), "datasets.Dataset")
    return None


def _is_dataframe(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _is_hf(value: Any) -> bool:
    datasets = sys.modules.get("datasets")
    return datasets is not None and isinstance(value, datasets.Dataset | datasets.DatasetDict)


def source_value(value: Any, split: str) -> DataSource:
    """What a ``[data]`` key is set to, normalised: in-memory data as :class:`Rows`, a hub
    reference as its string, anything else as a path. A ValueError says what is accepted."""
    rows = in_memory_rows(value, split)
    if rows is not None:
        return rows
    if isinstance(value, str) and value.startswith(HUB_PREFIX):
        if not value[len(HUB_PREFIX) :].strip(":@ "):
            raise ValueError(f"{value!r} names no data set; write 'hf:NAME' (e.g. 'hf:ag_news')")
        return value
    if isinstance(value, str | Path) and str(value):
        return Path(value)
    raise ValueError(f"expected {ACCEPTED}")


@dataclass(frozen=True, slots=True)
class OpenedSource:
    """The records of one source and how to point at one of them in a message."""

    #: The source as a user knows it: the file's path, ``hf:NAME (split train)``, ...
    where: str
    records: Iterator[tuple[int, Record]]
    #: Files count lines (``path:12``); other sources count rows (``... row 12``).
    numbers_lines: bool = False

    def locate(self, number: int) -> str:
        return f"{self.where}:{number}" if self.numbers_lines else f"{self.where} row {number}"


def open_source(
    source: DataSource, split: str, *, csv_delimiter: str | None = None
) -> OpenedSource:
    """The records of ``source`` (a ``[data]`` value) for the split ``split``."""
    if isinstance(source, Rows):
        return OpenedSource(f"[data] {split} (a {source.kind})", enumerate(source.records, 1))
    if isinstance(source, str) and source.startswith(HUB_PREFIX):
        from pgkd.hf_data import load_hub

        dataset, where = load_hub(source, split)
        return _dataset_source(dataset, where)
    path = Path(source)
    folder, chosen = _folder_and_split(path)
    if folder is not None:
        from pgkd.hf_data import load_disk

        dataset, where = load_disk(folder, chosen or split, named=chosen is not None)
        return _dataset_source(dataset, where)
    if path.exists() and path.is_file() and _is_empty(path):
        raise DataError(f"{path}: the file is empty; it needs one labelled sample per line")
    records = stream_records(path, csv_delimiter=csv_delimiter)
    return OpenedSource(str(path), records, numbers_lines=True)


def _dataset_source(dataset: Any, where: str) -> OpenedSource:
    from pgkd.hf_data import dataset_records

    return OpenedSource(where, enumerate(dataset_records(dataset), 1))


def _folder_and_split(path: Path) -> tuple[Path | None, str | None]:
    """(folder, split) when ``path`` is a folder, or ``FOLDER@SPLIT`` of one."""
    if path.is_dir():
        return path, None
    name, mark, split = path.name.rpartition(SPLIT_MARK)
    if mark and name and split and (path.parent / name).is_dir():
        return path.parent / name, split
    return None, None


def _is_empty(path: Path) -> bool:
    import gzip

    if path.suffix.lower() == ".gz":
        try:
            with gzip.open(path, "rb") as fh:
                return not fh.read(4096).strip()
        except (OSError, EOFError):
            return False  # the stream reader names the problem with its line
    with open(path, "rb") as fh:
        return not fh.read(4096).strip()


def describe(source: DataSource | None) -> str:
    """A short text for a source in messages and summaries."""
    if source is None:
        return "none"
    return repr(source) if isinstance(source, Rows) else str(source)
