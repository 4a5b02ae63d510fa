"""Watcher rows: ``sm wait TARGET --notify`` — tell ``watcher_id`` when ``target_id`` is
idle (or exited), or that the wait timed out at ``deadline``.

    state   armed → idle | exited | timed_out | cancelled
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store

_COLUMNS = "id, watcher_id, target_id, deadline, state, created_at, updated_at"


@dataclass(frozen=True)
class WatcherRecord:
    id: str
    watcher_id: str
    target_id: str
    deadline: float
    state: str
    created_at: float
    updated_at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "watcher_id": self.watcher_id, "target_id": self.target_id,
            "deadline": self.deadline, "state": self.state, "created_at": self.created_at,
        }


def _record(row: sqlite3.Row) -> WatcherRecord:
    return WatcherRecord(**dict(row))


class Watchers:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def insert(self, conn: aiosqlite.Connection, w: WatcherRecord) -> None:
        await conn.execute(
            f"INSERT INTO watchers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (w.id, w.watcher_id, w.target_id, w.deadline, w.state, w.created_at, w.updated_at),
        )

    async def settle(
        self, conn: aiosqlite.Connection, watcher_id: str, state: str, now: float
    ) -> bool:
        """Move an armed watcher to ``state``. False when it was no longer armed."""
        cur = await conn.execute(
            "UPDATE watchers SET state = ?, updated_at = ? WHERE id = ? AND state = 'armed'",
            (state, now, watcher_id),
        )
        return cur.rowcount == 1

    async def cancel_for_watcher(
        self, conn: aiosqlite.Connection, watcher_id: str, before: float, now: float
    ) -> int:
        """Cancel the armed watchers ``watcher_id`` set up before ``before``."""
        cur = await conn.execute(
            "UPDATE watchers SET state = 'cancelled', updated_at = ? "
            "WHERE watcher_id = ? AND state = 'armed' AND created_at < ?",
            (now, watcher_id, before),
        )
        return cur.rowcount

    async def armed(self, target_id: str | None = None) -> list[WatcherRecord]:
        where, args = "state = 'armed'", tuple[str, ...]()
        if target_id is not None:
            where, args = "state = 'armed' AND target_id = ?", (target_id,)
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM watchers WHERE {where} ORDER BY deadline", args
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def next_deadline(self) -> float | None:
        async with self._store.conn.execute(
            "SELECT MIN(deadline) FROM watchers WHERE state = 'armed'"
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None
