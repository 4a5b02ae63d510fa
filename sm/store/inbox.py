"""The operator's inbox: notes sessions write to the human (``sm send operator``).

A note is never typed anywhere. It is unread until the operator reads it explicitly
(``sm inbox ack``); listing it never marks it.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosqlite

from sm.store.table import Table

if TYPE_CHECKING:
    from sm.store.db import Store

_COLUMNS = ("id", "sender_id", "sender_label", "body", "created_at", "read_at", "read_by")


@dataclass(frozen=True)
class NoteRecord:
    id: str
    sender_id: str | None  # None: the operator (or a script outside any session)
    sender_label: str
    body: str
    created_at: float
    read_at: float | None = None
    read_by: str | None = None  # the operator's surface that read it (cli, telegram, web)

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class Inbox:
    def __init__(self, store: Store) -> None:
        self._rows = Table(store, "inbox", _COLUMNS, lambda **v: NoteRecord(**v),
                           updatable=("read_at", "read_by"))

    async def add(self, conn: aiosqlite.Connection, note: NoteRecord) -> None:
        await self._rows.insert(conn, note)

    async def get(self, note_id: str) -> NoteRecord | None:
        return await self._rows.one("id = ?", (note_id,))

    async def by_prefix(self, prefix: str) -> builtins.list[NoteRecord]:
        """Notes whose id starts with ``prefix`` (at most 2: enough to tell ambiguity)."""
        return await self._rows.select("id >= ? AND id < ?", (prefix, prefix + "\uffff"),
                                       limit=2)

    async def list(self, *, unread: bool = False, limit: int = 100
                   ) -> builtins.list[NoteRecord]:
        """Newest first."""
        return await self._rows.select("read_at IS NULL" if unread else "1 = 1",
                                       order="created_at DESC, rowid DESC", limit=limit)

    async def mark_read(self, conn: aiosqlite.Connection, ids: Sequence[str], now: float,
                        by: str) -> int:
        """Mark these unread notes read; returns how many changed (read ones stay as
        they were: idempotent)."""
        changed = 0
        for note_id in ids:
            changed += await self._rows.update(conn, "id = ? AND read_at IS NULL", (note_id,),
                                               read_at=now, read_by=by)
        return changed

    async def unread_ids(self) -> builtins.list[str]:
        return [n.id for n in await self.list(unread=True, limit=100000)]
