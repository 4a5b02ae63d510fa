"""``telegram_state``: small durable values (the mirror's cursor)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiosqlite

if TYPE_CHECKING:
    pass

from sm.store.telegram.base import Rows


class State(Rows):
    async def get(self, key: str) -> str | None:
        rows = await self._rows("SELECT value FROM telegram_state WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def set(self, conn: aiosqlite.Connection, key: str, value: str) -> None:
        await conn.execute(
            "INSERT INTO telegram_state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

