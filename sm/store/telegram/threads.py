"""``telegram_threads``: where each session's messages go (a forum topic, or reply
threads under a root message); ``telegram_sent``: what each message we sent belongs to."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    pass

from sm.store.telegram.base import Rows
from sm.store.telegram.records import ThreadRecord


class Threads(Rows):
    async def get(self, session_id: str) -> ThreadRecord | None:
        rows = await self._rows(
            "SELECT session_id, chat_id, kind, thread_id, name, closed, attempts "
            "FROM telegram_threads WHERE session_id = ?", (session_id,))
        return _thread(rows[0]) if rows else None

    async def at(self, chat_id: int, thread_id: int) -> ThreadRecord | None:
        rows = await self._rows(
            "SELECT session_id, chat_id, kind, thread_id, name, closed, attempts "
            "FROM telegram_threads WHERE chat_id = ? AND thread_id = ?", (chat_id, thread_id))
        return _thread(rows[0]) if rows else None

    async def intend(
        self, conn: aiosqlite.Connection, session_id: str, chat_id: int, kind: str, name: str,
        now: float,
    ) -> None:
        """Record the intent to create a thread (idempotent), and count the attempt:
        written and committed before the creating call is made."""
        await conn.execute(
            "INSERT INTO telegram_threads (session_id, chat_id, kind, name, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id) DO NOTHING",
            (session_id, chat_id, kind, name, now, now))
        await conn.execute(
            "UPDATE telegram_threads SET attempts = attempts + 1, chat_id = ?, kind = ?, "
            "thread_id = NULL, updated_at = ? WHERE session_id = ?",
            (chat_id, kind, now, session_id))

    async def forget_attempt(self, conn: aiosqlite.Connection, session_id: str) -> None:
        """Undo one counted creation attempt (the call surely created nothing)."""
        await conn.execute(
            "UPDATE telegram_threads SET attempts = attempts - 1 WHERE session_id = ?",
            (session_id,),
        )

    async def update(
        self, conn: aiosqlite.Connection, session_id: str, now: float, **fields: Any
    ) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        await conn.execute(
            f"UPDATE telegram_threads SET {sets}, updated_at = ? WHERE session_id = ?",
            (*fields.values(), now, session_id))



def _thread(row: sqlite3.Row) -> ThreadRecord:
    values = dict(row)
    values["closed"] = bool(values["closed"])
    return ThreadRecord(**values)


class Sent(Rows):
    async def remember(
        self, conn: aiosqlite.Connection, chat_id: int, message_id: int, session_id: str | None
    ) -> None:
        await conn.execute(
            "INSERT OR REPLACE INTO telegram_sent (chat_id, message_id, session_id) "
            "VALUES (?, ?, ?)", (chat_id, message_id, session_id))

    async def last(self, chat_id: int) -> int:
        """The highest id of a message we know we sent to the chat (0: none)."""
        rows = await self._rows(
            "SELECT MAX(message_id) FROM telegram_sent WHERE chat_id = ?", (chat_id,))
        return int(rows[0][0] or 0)

    async def session_of(self, chat_id: int, message_id: int) -> str | None:
        rows = await self._rows(
            "SELECT session_id FROM telegram_sent WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id))
        return str(rows[0][0]) if rows and rows[0][0] else None

