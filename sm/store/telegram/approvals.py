"""``telegram_approvals``: permission prompts put before the human, and where their
messages landed (and the questions' too: ``asks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    pass

from sm.store.telegram.base import Rows
from sm.store.telegram.records import ApprovalRecord

_APPROVAL = (
    "id, session_id, hook_seq, tool, state, deadline, chat_id, message_id, answered_by, "
    "created_at"
)


class Approvals(Rows):
    async def add(
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

    async def get(self, approval_id: int) -> ApprovalRecord | None:
        rows = await self._rows(
            f"SELECT {_APPROVAL} FROM telegram_approvals WHERE id = ?", (approval_id,))
        return ApprovalRecord(**dict(rows[0])) if rows else None

    async def pending(
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

    async def settle(
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

