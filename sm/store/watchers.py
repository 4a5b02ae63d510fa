"""Watcher rows: ``sm wait TARGET --notify`` — tell ``watcher_id`` when ``target_id`` is
idle (or exited), or that the wait timed out at ``deadline``.

    state   armed → idle | exited | timed_out | cancelled
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosqlite

from sm.store.table import Table

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


class Watchers:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows = Table(store, "watchers", _COLUMNS.split(", "), WatcherRecord,
                           updatable=("state", "updated_at"))

    async def insert(self, conn: aiosqlite.Connection, w: WatcherRecord) -> None:
        await self._rows.insert(conn, w)

    async def settle(
        self, conn: aiosqlite.Connection, watcher_id: str, state: str, now: float
    ) -> bool:
        """Move an armed watcher to ``state``. False when it was no longer armed."""
        changed = await self._rows.update(conn, "id = ? AND state = 'armed'", (watcher_id,),
                                          state=state, updated_at=now)
        return changed == 1

    async def cancel_for_watcher(
        self, conn: aiosqlite.Connection, watcher_id: str, before: float, now: float
    ) -> int:
        """Cancel the armed watchers ``watcher_id`` set up before ``before``."""
        return await self._rows.update(
            conn, "watcher_id = ? AND state = 'armed' AND created_at < ?", (watcher_id, before),
            state="cancelled", updated_at=now)

    async def armed(self, target_id: str | None = None) -> list[WatcherRecord]:
        where, args = "state = 'armed'", tuple[str, ...]()
        if target_id is not None:
            where, args = "state = 'armed' AND target_id = ?", (target_id,)
        return await self._rows.select(where, args, order="deadline")

    async def next_deadline(self) -> float | None:
        async with self._store.conn.execute(
            "SELECT MIN(deadline) FROM watchers WHERE state = 'armed'"
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None
