"""Message rows: the durable queue between agents."""

from __future__ import annotations

import builtins
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store

OPEN_STATES = ("queued", "delivering")
_MODE_ORDER = "CASE mode WHEN 'urgent' THEN 0 WHEN 'important' THEN 1 ELSE 2 END"
_COLUMNS = (
    "id, sender_id, sender_label, target_id, mode, body, state, reason, attempts, "
    "notify_on_stop, receipt_seq, receipt_conv, receipt_busy, notified, created_at, "
    "updated_at, delivered_at, kind"
)


@dataclass(frozen=True)
class MessageRecord:
    id: str
    sender_id: str | None
    sender_label: str
    target_id: str
    mode: str
    body: str
    state: str
    reason: str | None
    attempts: int
    notify_on_stop: bool
    receipt_seq: int | None
    receipt_conv: str | None
    receipt_busy: bool
    notified: bool
    created_at: float
    updated_at: float
    delivered_at: float | None
    kind: str = "text"  # text | clear (the provider's clear command, confirmed by SessionStart)

    def public(self, full: bool = True) -> dict[str, Any]:
        data = {
            "id": self.id, "from": self.sender_label, "sender_id": self.sender_id,
            "to": self.target_id, "mode": self.mode, "state": self.state,
            "reason": self.reason, "attempts": self.attempts,
            "notify_on_stop": self.notify_on_stop, "created_at": self.created_at,
            "delivered_at": self.delivered_at, "kind": self.kind,
        }
        data["body"] = self.body if full else self.body[:200]
        return data


def _record(row: sqlite3.Row) -> MessageRecord:
    values = dict(row)
    for key in ("notify_on_stop", "receipt_busy", "notified"):
        values[key] = bool(values[key])
    return MessageRecord(**values)


class Messages:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def insert(self, conn: aiosqlite.Connection, m: MessageRecord) -> None:
        await conn.execute(
            f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * 18)})",
            (
                m.id, m.sender_id, m.sender_label, m.target_id, m.mode, m.body, m.state,
                m.reason, m.attempts, int(m.notify_on_stop), m.receipt_seq, m.receipt_conv,
                int(m.receipt_busy), int(m.notified), m.created_at, m.updated_at,
                m.delivered_at, m.kind,
            ),
        )

    async def update(
        self, conn: aiosqlite.Connection, message_id: str, now: float, **fields: Any
    ) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        await conn.execute(
            f"UPDATE messages SET {sets}, updated_at = ? WHERE id = ?",
            (*fields.values(), now, message_id),
        )

    async def get(self, message_id: str) -> MessageRecord | None:
        rows = await self._select("id = ? OR id LIKE ?", (message_id, message_id + "%"), limit=2)
        return rows[0] if len(rows) == 1 else None

    async def open_for(self, target_id: str) -> list[MessageRecord]:
        """Undelivered messages to a target, in delivery order: urgent, important,
        sequential; oldest first within each."""
        return await self._select(
            f"target_id = ? AND state IN {OPEN_STATES}", (target_id,),
            order=f"{_MODE_ORDER}, rowid",
        )

    async def latest(self, target_id: str, kind: str) -> MessageRecord | None:
        """The newest message of ``kind`` to a target."""
        rows = await self._select("target_id = ? AND kind = ?", (target_id, kind),
                                  order="rowid DESC", limit=1)
        return rows[0] if rows else None

    async def open_counts(self) -> dict[str, int]:
        """How many undelivered messages each target has (targets with none are absent)."""
        async with self._store.conn.execute(
            f"SELECT target_id, COUNT(*) FROM messages WHERE state IN {OPEN_STATES} "
            "GROUP BY target_id"
        ) as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    async def targets_with_open(self) -> list[str]:
        async with self._store.conn.execute(
            f"SELECT DISTINCT target_id FROM messages WHERE state IN {OPEN_STATES}"
        ) as cur:
            return [r[0] for r in await cur.fetchall()]

    async def awaiting_stop(self, target_id: str) -> list[MessageRecord]:
        """Delivered messages whose sender asked to hear when their turn ends."""
        return await self._select(
            "target_id = ? AND state = 'delivered' AND notify_on_stop = 1 AND notified = 0",
            (target_id,),
        )

    async def list(
        self,
        *,
        target_id: str | None = None,
        sender_id: str | None = None,
        states: tuple[str, ...] = (),
        after_seq: int = 0,
        limit: int = 100,
    ) -> builtins.list[MessageRecord]:
        where: list[str] = ["rowid > ?"]
        args: list[Any] = [after_seq]
        if target_id:
            where.append("target_id = ?")
            args.append(target_id)
        if sender_id:
            where.append("sender_id = ?")
            args.append(sender_id)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(states)
        return await self._select(" AND ".join(where), tuple(args), limit=limit)

    async def sent_since(self, sender_id: str, target_id: str | None, since: float) -> bool:
        """Whether ``sender_id`` sent anything to ``target_id`` (any target if None)."""
        where = "sender_id = ? AND created_at >= ?"
        args: tuple[Any, ...] = (sender_id, since)
        if target_id:
            where += " AND target_id = ?"
            args += (target_id,)
        return bool(await self._select(where, args, limit=1))

    async def _select(
        self, where: str, args: tuple[Any, ...], order: str = "rowid", limit: int = 10000
    ) -> builtins.list[MessageRecord]:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE {where} ORDER BY {order} LIMIT ?",
            (*args, limit),
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]
