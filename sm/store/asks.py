"""Question rows: ``sm ask`` — a question for the human, answered from any surface.

    state   pending → answered | expired | withdrawn
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.store.table import Table

if TYPE_CHECKING:
    from sm.store.db import Store

_COLUMNS = ("id", "session_id", "question", "choices", "state", "answer", "answered_by",
            "deadline", "chat_id", "message_id", "created_at", "answered_at")


@dataclass(frozen=True)
class AskRecord:
    id: str
    session_id: str | None  # None: the operator asked (a script outside any session)
    question: str
    choices: list[str]
    state: str  # pending | answered | expired | withdrawn
    answer: str | None
    answered_by: str | None
    deadline: float
    chat_id: int | None  # where the Telegram bridge posted it, if it did
    message_id: int | None
    created_at: float
    answered_at: float | None = None


def _load(**values: Any) -> AskRecord:
    values["choices"] = values["choices"] or []
    return AskRecord(**values)


class Asks:
    def __init__(self, store: Store) -> None:
        self._rows = Table(store, "asks", _COLUMNS, _load,
                           updatable=("state", "answer", "answered_by", "answered_at",
                                      "chat_id", "message_id"),
                           json_columns=("choices",))

    async def add(self, conn: aiosqlite.Connection, ask: AskRecord) -> bool:
        """Insert; False when a question with this id exists (a client's retry)."""
        return await self._rows.insert(conn, ask, or_ignore=True) > 0

    async def get(self, ask_id: str) -> AskRecord | None:
        return await self._rows.one("id = ?", (ask_id,))

    async def pending(self) -> builtins.list[AskRecord]:
        """Questions waiting for an answer, oldest first."""
        return await self._rows.select("state = 'pending'", order="created_at")

    async def next_deadline(self) -> float | None:
        value = await self._rows.scalar("SELECT MIN(deadline) FROM asks WHERE state = 'pending'")
        return float(value) if value is not None else None

    async def settle(
        self, conn: aiosqlite.Connection, ask_id: str, state: str, answer: str | None,
        by: str | None, now: float,
    ) -> bool:
        """Move a pending question to ``state``; False when it was settled already."""
        return await self._rows.update(conn, "id = ? AND state = 'pending'", (ask_id,),
                                       state=state, answer=answer, answered_by=by,
                                       answered_at=now) > 0

    async def placed(self, conn: aiosqlite.Connection, ask_id: str, chat_id: int,
                     message_id: int) -> None:
        """Record where the Telegram bridge posted the question."""
        await self._rows.update(conn, "id = ?", (ask_id,), chat_id=chat_id,
                                message_id=message_id)
