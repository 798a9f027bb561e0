"""What a run read, recorded so a resume can prove it reads the same: ``inputs.json`` and the
copy of in-memory data in the run directory.

``inputs.json`` holds, per ``[data]`` key, a SHA-256 over the records read (each one as canonical
JSON with sorted keys, one per line), the number of rows and where they came from. Hashing rows
rather than file bytes covers every kind of source alike (a DataFrame, a ``save_to_disk``
folder, a data set from the hub's cache), and a resume refuses the run when a hash differs.
Runs recorded before this format hold the SHA-256 of each file's bytes, which is still checked.

Rows given in memory cannot be read again by ``pgkd resume``; :func:`keep_in_memory_rows` writes
them to ``data/KEY.jsonl`` in the run directory and points the saved config at that file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from pgkd.sources import Rows, open_source
from pgkd.store import atomic_write_bytes

if TYPE_CHECKING:
    from pgkd.config import DataConfig

DATA_KEYS = ("train", "validation", "test")
#: Where a run keeps the rows it was given in memory.
DATA_FOLDER = "data"
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def canonical_record(record: Mapping[str, Any]) -> bytes:
    """One record as canonical JSON (sorted keys; values without a JSON form as text)."""
    return orjson.dumps(dict(record), option=_CANONICAL, default=str)


def fingerprint_source(data: DataConfig, key: str) -> dict[str, Any] | None:
    """``{"source", "rows", "sha256"}`` of the records ``[data] key`` reads; None when unset."""
    source = getattr(data, key)
    if source is None:
        return None
    opened = open_source(source, key, csv_delimiter=data.csv_delimiter)
    digest = hashlib.sha256()
    rows = 0
    for _, record in opened.records:
        digest.update(canonical_record(record) + b"\n")
        rows += 1
    return {"source": opened.where, "rows": rows, "sha256": digest.hexdigest()}


def fingerprint_inputs(data: DataConfig) -> dict[str, dict[str, Any] | None]:
    """The fingerprint of every ``[data]`` key, for ``inputs.json``."""
    return {key: fingerprint_source(data, key) for key in DATA_KEYS}


def changed_inputs(recorded: Mapping[str, Any], data: DataConfig) -> list[str]:
    """The ``[data]`` keys whose rows differ from ``recorded`` (an ``inputs.json``)."""
    changed = []
    for key in DATA_KEYS:
        before = recorded.get(key)
        if isinstance(before, str):  # a run recorded before rows were hashed: file bytes
            now: str | None = _file_sha256(getattr(data, key))
        else:
            fingerprint = fingerprint_source(data, key)
            before = before.get("sha256") if isinstance(before, Mapping) else None
            now = fingerprint["sha256"] if fingerprint else None
        if before != now:
            changed.append(key)
    return changed


def _file_sha256(source: object) -> str | None:
    if not isinstance(source, Path) or not source.is_file():
        return None
    return hashlib.sha256(source.read_bytes()).hexdigest()


def keep_in_memory_rows(data: DataConfig, run_dir: Path) -> DataConfig:
    """``data`` with each in-memory key written to ``run_dir/data/KEY.jsonl`` and pointing at
    that file; other keys unchanged."""
    changes: dict[str, Path] = {}
    for key in DATA_KEYS:
        source = getattr(data, key)
        if isinstance(source, Rows):
            path = run_dir.resolve() / DATA_FOLDER / f"{key}.jsonl"
            atomic_write_bytes(path, b"".join(canonical_record(r) + b"\n" for r in source.records))
            changes[key] = path
    return data.model_copy(update=changes) if changes else data


def relative_to_run(raw: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """A config's TOML data with paths inside ``run_dir`` written relative to it, so the run
    directory can move and still resume (the run reads them relative to its folder)."""
    section = raw.get("data")
    if not isinstance(section, dict):
        return raw
    root = run_dir.resolve()
    for key in DATA_KEYS:
        value = section.get(key)
        if isinstance(value, str):
            path = Path(value)
            if path.is_absolute() and path.is_relative_to(root):
                section[key] = path.relative_to(root).as_posix()
    return raw
