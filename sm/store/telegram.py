"""The Telegram bridge's rows: threads, the outbox, receipts owed, approvals.

Writes take the caller's connection (inside ``Store.write()``) so a fact and what it
causes commit together; reads use the shared connection.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store


@dataclass(frozen=True)
class ThreadRecord:
    """Where a session's messages go: a forum topic, or reply threads under a root
    message in a chat without topics. ``thread_id`` is None while only intended."""

    session_id: str
    chat_id: int
    kind: str  # topic | reply
    thread_id: int | None
    name: str
    closed: bool
    attempts: int


@dataclass(frozen=True)
class OutboxItem:
    """One thing to do in Telegram, in order. ``op``: send | edit | alert | rename |
    close | reopen. A send goes into ``session_id``'s thread, or to ``chat_id`` (and
    ``thread_id``). ``text`` is the plain fallback of ``html``."""

    op: str
    text: str = ""
    html: str | None = None
    session_id: str | None = None
    chat_id: int | None = None
    thread_id: int | None = None
    reply_to: int | None = None
    markup: list[list[tuple[str, str]]] | None = None
    silent: bool = False
    ref: str | None = None  # approval:ID | ask:ID | covered
    dedupe_key: str | None = None
    id: int = 0
    state: str = "pending"  # pending | sending (the call was made; its answer not stored)
    attempts: int = 0
    created_at: float = 0.0


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    session_id: str
    hook_seq: int
    tool: str
    state: str  # pending | allowed | always | denied | expired | gone
    deadline: float
    chat_id: int | None
    message_id: int | None
    answered_by: str | None
    created_at: float


_OUTBOX = (
    "id, op, session_id, chat_id, thread_id, reply_to, text, html, markup, silent, ref, "
    "dedupe_key, state, attempts, created_at"
)
_APPROVAL = (
    "id, session_id, hook_seq, tool, state, deadline, chat_id, message_id, answered_by, "
    "created_at"
)
def _outbox(row: sqlite3.Row) -> OutboxItem:
    values = dict(row)
    markup = json.loads(values["markup"]) if values["markup"] else None
    values["markup"] = [[(b[0], b[1]) for b in r] for r in markup] if markup else None
    values["silent"] = bool(values["silent"])
    return OutboxItem(**values)


class TelegramRows:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- threads ----------------------------------------------------------------------
    async def thread(self, session_id: str) -> ThreadRecord | None:
        rows = await self._rows(
            "SELECT session_id, chat_id, kind, thread_id, name, closed, attempts "
            "FROM telegram_threads WHERE session_id = ?", (session_id,))
        return _thread(rows[0]) if rows else None

    async def thread_at(self, chat_id: int, thread_id: int) -> ThreadRecord | None:
        rows = await self._rows(
            "SELECT session_id, chat_id, kind, thread_id, name, closed, attempts "
            "FROM telegram_threads WHERE chat_id = ? AND thread_id = ?", (chat_id, thread_id))
        return _thread(rows[0]) if rows else None

    async def intend_thread(
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

    async def update_thread(
        self, conn: aiosqlite.Connection, session_id: str, now: float, **fields: Any
    ) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        await conn.execute(
            f"UPDATE telegram_threads SET {sets}, updated_at = ? WHERE session_id = ?",
            (*fields.values(), now, session_id))

    # -- the outbox -------------------------------------------------------------------
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

    # -- what our messages belong to, and receipts owed ---------------------------------
    async def remember_sent(
        self, conn: aiosqlite.Connection, chat_id: int, message_id: int, session_id: str | None
    ) -> None:
        await conn.execute(
            "INSERT OR REPLACE INTO telegram_sent (chat_id, message_id, session_id) "
            "VALUES (?, ?, ?)", (chat_id, message_id, session_id))

    async def last_sent(self, chat_id: int) -> int:
        """The highest id of a message we know we sent to the chat (0: none)."""
        rows = await self._rows(
            "SELECT MAX(message_id) FROM telegram_sent WHERE chat_id = ?", (chat_id,))
        return int(rows[0][0] or 0)

    async def session_of(self, chat_id: int, message_id: int) -> str | None:
        rows = await self._rows(
            "SELECT session_id FROM telegram_sent WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id))
        return str(rows[0][0]) if rows and rows[0][0] else None

    async def owe_receipt(
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

    # -- small durable values (the mirror's cursor) --------------------------------------
    async def value(self, key: str) -> str | None:
        rows = await self._rows("SELECT value FROM telegram_state WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    async def set_value(self, conn: aiosqlite.Connection, key: str, value: str) -> None:
        await conn.execute(
            "INSERT INTO telegram_state (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # -- approvals --------------------------------------------------------------------
    async def add_approval(
        self, conn: aiosqlite.Connection, session_id: str, hook_seq: int, tool: str,
        deadline: float, now: float,
    ) -> int | None:
        """A pending approval for the prompt the hook ``hook_seq`` announced; None when
        that hook, or another pending prompt of the session, already has one."""
        async with conn.execute(
            "SELECT 1 FROM telegram_approvals WHERE (session_id = ? AND state = 'pending') "
            "OR hook_seq = ?", (session_id, hook_seq)) as cur:
            if await cur.fetchone():
                return None
        cur2 = await conn.execute(
            "INSERT INTO telegram_approvals (session_id, hook_seq, tool, state, deadline, "
            "created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
            (session_id, hook_seq, tool, deadline, now))
        return cur2.lastrowid

    async def approval(self, approval_id: int) -> ApprovalRecord | None:
        rows = await self._rows(
            f"SELECT {_APPROVAL} FROM telegram_approvals WHERE id = ?", (approval_id,))
        return ApprovalRecord(**dict(rows[0])) if rows else None

    async def approvals(
        self, *, session_id: str | None = None, due_before: float | None = None
    ) -> list[ApprovalRecord]:
        """Pending approvals, of one session or past their deadline."""
        where, args = ["state = 'pending'"], list[Any]()
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        if due_before is not None:
            where.append("deadline <= ?")
            args.append(due_before)
        rows = await self._rows(
            f"SELECT {_APPROVAL} FROM telegram_approvals WHERE {' AND '.join(where)} ORDER BY id",
            tuple(args))
        return [ApprovalRecord(**dict(r)) for r in rows]

    async def settle_approval(
        self, conn: aiosqlite.Connection, approval_id: int, state: str, by: str, now: float
    ) -> bool:
        """Pending → ``state``. False when it was settled already (someone was first)."""
        cur = await conn.execute(
            "UPDATE telegram_approvals SET state = ?, answered_by = ?, answered_at = ? "
            "WHERE id = ? AND state = 'pending'", (state, by, now, approval_id))
        return bool(cur.rowcount)

    async def set_message(
        self, conn: aiosqlite.Connection, ref: str, chat_id: int, message_id: int
    ) -> None:
        """Record where an approval's or a question's message landed (``ref`` is
        ``approval:ID`` or ``ask:ID``)."""
        kind, _, key = ref.partition(":")
        table = {"approval": "telegram_approvals", "ask": "asks"}.get(kind)
        if table:
            await conn.execute(
                f"UPDATE {table} SET chat_id = ?, message_id = ? WHERE id = ?",
                (chat_id, message_id, key))

    async def message_of(self, ref: str) -> tuple[int, int] | None:
        kind, _, key = ref.partition(":")
        table = {"approval": "telegram_approvals", "ask": "asks"}.get(kind)
        if not table:
            return None
        rows = await self._rows(f"SELECT chat_id, message_id FROM {table} WHERE id = ?", (key,))
        if not rows or rows[0][1] is None:
            return None
        return int(rows[0][0]), int(rows[0][1])

    # -- stuck agents -------------------------------------------------------------------
    async def running_since_last_hook(self) -> list[tuple[str, int, float]]:
        """(session id, seq, ts) of the last hook of each running session."""
        rows = await self._rows(
            "SELECT s.id, e.seq, e.ts FROM sessions s JOIN events e ON e.seq = ("
            "SELECT MAX(seq) FROM events WHERE session_id = s.id AND kind = 'hook') "
            "WHERE s.state = 'running'", ())
        return [(str(r[0]), int(r[1]), float(r[2])) for r in rows]

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        async with self._store.conn.execute(sql, args) as cur:
            return list(await cur.fetchall())


def _thread(row: sqlite3.Row) -> ThreadRecord:
    values = dict(row)
    values["closed"] = bool(values["closed"])
    return ThreadRecord(**values)
