"""Puts teacher calls on disk before their replies are used, without stalling the event loop.

Every call is journaled (``teacher_call`` events) and every usable reply cached. Writers wait
for their entry to be durable; entries that arrive while a write is in progress go together in
the next one (a group commit: one fsync of the journal and one SQLite transaction for a burst of
replies), done in a worker thread so that the other calls keep flowing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pgkd.fill.cache import ResponseCache
from pgkd.store import JsonlLog
from pgkd.teachers.base import TeacherReply

#: (key, provider, model, reply) as :meth:`ResponseCache.put_many` takes it.
CacheItem = tuple[str, str, str, TeacherReply]
_Entry = tuple[Mapping[str, Any], CacheItem | None, "asyncio.Future[None] | None"]


class ReplyWriter:
    def __init__(self, journal: JsonlLog | None, cache: ResponseCache | None) -> None:
        self.journal = journal
        self.cache = cache
        self._pending: list[_Entry] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, event: Mapping[str, Any], cache_item: CacheItem | None = None) -> None:
        """Journal ``event`` (and cache ``cache_item``) and return once both are on disk."""
        if self.journal is None and (self.cache is None or cache_item is None):
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, cache_item, done))
        self._start()
        await done

    def write_later(self, event: Mapping[str, Any]) -> None:
        """Journal ``event`` without waiting (for calls being cancelled); :meth:`drain` waits."""
        if self.journal is None:
            return
        self._pending.append((event, None, None))
        self._start()

    async def drain(self) -> None:
        """Wait until everything handed over so far is on disk."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    def _start(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            error: BaseException | None = None
            try:
                await asyncio.to_thread(self._write_batch, batch)
            except Exception as exc:
                error = exc
            for _, _, done in batch:
                if done is None or done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    def _write_batch(self, batch: list[_Entry]) -> None:
        # Cache first: a reply in the journal is then always in the cache too.
        if self.cache is not None:
            self.cache.put_many(item for _, item, _ in batch if item is not None)
        if self.journal is not None:
            self.journal.append_many(event for event, _, _ in batch)
