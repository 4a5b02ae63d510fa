"""What every Telegram table shares: the store and a read helper."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sm.store.db import Store


class Rows:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        async with self._store.conn.execute(sql, args) as cur:
            return list(await cur.fetchall())
