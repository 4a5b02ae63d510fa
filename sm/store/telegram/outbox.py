"""``telegram_outbox``: durable, ordered things to do in Telegram; ``telegram_inbound``:
receipts owed to a human's message."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import aiosqlite

if TYPE_CHECKING:
    pass

from sm.store.telegram.base import Rows
from sm.store.telegram.records import OutboxItem

_OUTBOX = (
    "id, op, session_id, chat_id, thread_id, reply_to, text, html, markup, silent, ref, "
    "dedupe_key, state, attempts, created_at"
)


def _outbox(row: sqlite3.Row) -> OutboxItem:
    values = dict(row)
    markup = json.loads(values["markup"]) if values["markup"] else None
    values["markup"] = [[(b[0], b[1]) for b in r] for r in markup] if markup else None
    values["silent"] = bool(values["silent"])
    return OutboxItem(**values)


class Outbox(Rows):
    async def enqueue(self, conn: aiosqlite.Connection, item: OutboxItem, now: float) -> int | None:
        """Queue ``item``; None (nothing written) when its ``dedupe_key`` was queued before."""
        markup = json.dumps(item.markup) if item.markup else None
        cur = await conn.execute(
            "INSERT INTO telegram_outbox (op, session_id, chat_id, thread_id, reply_to, text, "
            "html, markup, silent, ref, dedupe_key, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING",
            (item.op, item.session_id, item.chat_id, item.thread_id, item.reply_to, item.text,
             item.html, markup, int(item.silent), item.ref, item.dedupe_key, now))
        return cur.lastrowid if cur.rowcount else None

    async def pending(self, limit: int = 50) -> list[OutboxItem]:
        rows = await self._rows(
            f"SELECT {_OUTBOX} FROM telegram_outbox WHERE state IN ('pending', 'sending') "
            f"ORDER BY id LIMIT ?",
            (limit,))
        return [_outbox(r) for r in rows]

    async def pending_count(self) -> int:
        rows = await self._rows(
            "SELECT COUNT(*) FROM telegram_outbox WHERE state IN ('pending', 'sending')", ())
        return int(rows[0][0])

    async def finish(
        self, conn: aiosqlite.Connection, ids: list[int], state: str, now: float,
        message_id: int | None = None, reason: str | None = None,
    ) -> None:
        marks = ", ".join("?" * len(ids))
        await conn.execute(
            f"UPDATE telegram_outbox SET state = ?, message_id = ?, reason = ?, sent_at = ? "
            f"WHERE id IN ({marks})", (state, message_id, reason, now, *ids))

    async def mark(self, conn: aiosqlite.Connection, ids: list[int], state: str) -> None:
        """``sending`` before the call (counting the attempt), ``pending`` again after a
        call that surely did not land."""
        marks = ", ".join("?" * len(ids))
        bump = ", attempts = attempts + 1" if state == "sending" else ""
        await conn.execute(
            f"UPDATE telegram_outbox SET state = ?{bump} WHERE id IN ({marks})", (state, *ids))



class Inbound(Rows):
    async def owe(
        self, conn: aiosqlite.Connection, message_id: str, chat_id: int,
        thread_id: int | None, tg_message_id: int,
    ) -> None:
        await conn.execute(
            "INSERT OR IGNORE INTO telegram_inbound (message_id, chat_id, thread_id, "
            "tg_message_id) VALUES (?, ?, ?, ?)", (message_id, chat_id, thread_id, tg_message_id))

    async def receipt_for(self, message_id: str) -> tuple[int, int | None, int] | None:
        rows = await self._rows(
            "SELECT chat_id, thread_id, tg_message_id FROM telegram_inbound WHERE message_id = ?",
            (message_id,))
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

