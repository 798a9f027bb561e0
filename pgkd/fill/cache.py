"""Teacher replies on disk, so that a re-run or a resumed run never pays for a call twice.

One SQLite file (WAL mode) with one table, ``replies``, readable with the ``sqlite3`` shell.
A reply is keyed by a SHA-256 of everything that determines it: provider, model, system and user
prompt, answer schema, temperature, max tokens and the per-attempt seed. The endpoint and
credentials are not part of the key and nothing secret is stored.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import orjson

from pgkd.teachers.base import TeacherReply, TeacherRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reply_model TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def request_key(provider: str, model: str, request: TeacherRequest) -> str:
    """The cache key of ``request`` sent to ``provider:model``."""
    material = [
        provider,
        model,
        request.system,
        request.user,
        request.schema,
        request.n_samples,
        request.temperature,
        request.max_tokens,
        request.seed,
    ]
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ResponseCache:
    """Replies by request key. Safe to use from the event loop and worker threads at once."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> TeacherReply | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, input_tokens, output_tokens, reply_model FROM replies WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return TeacherReply(text=row[0], input_tokens=row[1], output_tokens=row[2], model=row[3])

    def put(self, key: str, provider: str, model: str, reply: TeacherReply) -> None:
        self.put_many([(key, provider, model, reply)])

    def put_many(self, items: Iterable[tuple[str, str, str, TeacherReply]]) -> None:
        """Store several replies in one transaction (one commit for a burst of replies)."""
        now = time.time()
        rows = [
            (key, provider, model, r.text, r.input_tokens, r.output_tokens, r.model, now)
            for key, provider, model, r in items
        ]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM replies").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
