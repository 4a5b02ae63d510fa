"""Reminder rows: notices sm delivers to a session when they fall due.

    kind         remind (``sm remind``) · status-soft / status-hard (a dispatched child
                 that has not updated its status) · digest (an orchestrator's children)
    state        armed → done | cancelled; a recurring one (``every``) stays armed and
                 moves its ``due_at`` on each time it fires
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.store.table import Table

if TYPE_CHECKING:
    from sm.store.db import Store

_COLUMNS = (
    "id, session_id, kind, body, mode, due_at, every, state, fired, payload, created_by, "
    "created_at, updated_at"
)
_UPDATABLE = ("state", "due_at", "fired", "payload", "body", "updated_at")


@dataclass(frozen=True)
class ReminderRecord:
    id: str
    session_id: str  # who receives it
    kind: str
    body: str
    mode: str
    due_at: float
    every: float | None  # seconds between firings; None: once
    state: str
    fired: int
    created_by: str | None
    created_at: float
    updated_at: float
    payload: dict[str, Any] = field(default_factory=dict)


class Reminders:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._rows = Table(store, "reminders", _COLUMNS.split(", "), ReminderRecord,
                           updatable=_UPDATABLE, json_columns=("payload",))

    async def insert(self, conn: aiosqlite.Connection, r: ReminderRecord) -> None:
        await self._rows.insert(conn, r)

    async def update(
        self, conn: aiosqlite.Connection, reminder_id: str, now: float, **fields: Any
    ) -> None:
        await self._rows.update(conn, "id = ?", (reminder_id,), **fields, updated_at=now)

    async def cancel_for(
        self, conn: aiosqlite.Connection, session_id: str, kinds: tuple[str, ...], now: float,
        before: float | None = None,
    ) -> int:
        """Cancel the session's armed reminders of ``kinds`` (created before ``before``,
        when given). Returns how many."""
        where = f"session_id = ? AND state = 'armed' AND kind IN ({', '.join('?' * len(kinds))})"
        args: list[Any] = [session_id, *kinds]
        if before is not None:
            where += " AND created_at < ?"
            args.append(before)
        cur = await conn.execute(
            f"UPDATE reminders SET state = 'cancelled', updated_at = ? WHERE {where}",
            (now, *args),
        )
        return cur.rowcount

    async def get(self, ref: str) -> list[ReminderRecord]:
        """Reminders whose id is ``ref`` or starts with it."""
        escaped = ref.replace("%", "\\%").replace("_", "\\_") + "%"
        return await self._select("id = ? OR id LIKE ? ESCAPE '\\'", (ref, escaped), limit=2)

    async def next_due(self) -> float | None:
        async with self._store.conn.execute(
            "SELECT MIN(due_at) FROM reminders WHERE state = 'armed'"
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None

    async def due(self, now: float) -> list[ReminderRecord]:
        return await self._select("state = 'armed' AND due_at <= ?", (now,), order="due_at")

    async def armed(
        self, session_id: str | None = None, kinds: tuple[str, ...] = ()
    ) -> list[ReminderRecord]:
        where, args = ["state = 'armed'"], []
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args.extend(kinds)
        return await self._select(" AND ".join(where), tuple(args), order="due_at")

    async def _select(
        self, where: str, args: tuple[Any, ...], order: str = "rowid", limit: int = 10000
    ) -> list[ReminderRecord]:
        return await self._rows.select(where, args, order=order, limit=limit)
