"""The run directory: an append-only journal, per-step metrics, atomic files, checkpoints.

Layout of a run directory::

    config.toml      the resolved config (no secrets)
    journal.jsonl    every teacher call and every generated sample, written before it is used
                     (and each completed step's plugin ``run_state``, restored on resume)
    metrics.jsonl    one line per evaluated student (step 0 is model_0)
    summary.json     the outcome of the run
    best/            the best student, loadable by ``pgkd predict``
    cache.sqlite     teacher responses by request key, so a resumed run never pays twice
    compare.json     the best student against the teacher zero-shot (``pgkd compare``)
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` holds either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    options = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    atomic_write_bytes(path, orjson.dumps(obj, option=options) + b"\n")


def atomic_replace_dir(source: Path, target: Path) -> None:
    """Move a fully written directory into place, replacing ``target`` in one rename."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(source, target)
    _fsync_dir(target.parent)
    if old.exists():
        shutil.rmtree(old)


def recover_dir(target: Path) -> None:
    """Undo a crash between the two renames of :func:`atomic_replace_dir`."""
    old = target.with_name(f".{target.name}.old")
    if not target.exists() and old.exists():
        os.replace(old, target)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlLog:
    """An append-only JSON-lines file. Each record is flushed and fsynced before ``append``
    returns; a half-written last line (a crash mid-write) is skipped on read, never fatal."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._fsync = fsync
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh = open(path, "ab")  # noqa: SIM115 - held open for the life of the log

    def _repair_tail(self) -> None:
        """Cut a trailing partial line so the next append starts on a line of its own."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            data = self.path.read_bytes()
            cut = data.rfind(b"\n") + 1
            fh.truncate(cut)

    def append(self, record: Mapping[str, Any]) -> None:
        line = _dumps(record) + b"\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            if self._fsync:
                os.fsync(self._fh.fileno())

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append several records with one flush and fsync (a group commit)."""
        data = b"".join(_dumps(record) + b"\n" for record in records)
        if not data:
            return
        with self._lock:
            self._fh.write(data)
            self._fh.flush()
            if self._fsync:
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            self._fh.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return read_jsonl(self.path)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL log; an unparsable line (a torn write) is skipped."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                return
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
