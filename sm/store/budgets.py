"""Budget rows: the limits set per session, project and day, and the level each reached.

``budgets`` holds the limits the operator set (config defaults are not rows).
``budget_marks`` holds, per budget and period (the UTC day for a day budget, "" for the
others), the level last reached (``warn`` or ``exceeded``) with what was spent then: a
warning and a stop are each told once, and a session is paused while a mark says
``exceeded`` against a limit still in force. Writes happen inside the caller's
transaction (the usage insert's, or the budget change's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.agents.usage import Tokens
from sm.store.usage import Sum

if TYPE_CHECKING:
    from sm.store.db import Store


@dataclass(frozen=True)
class BudgetRow:
    scope: str  # session | project | day
    key: str  # the session id, the project's directory, "" for the day
    limit_micros: int
    updated_at: float


@dataclass(frozen=True)
class Mark:
    scope: str
    key: str
    period: str
    level: str  # warn | exceeded
    spent_micros: int
    limit_micros: int
    ts: float


class Budgets:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- writes (inside the caller's transaction) ---------------------------------------
    async def put(self, conn: aiosqlite.Connection, row: BudgetRow) -> None:
        await conn.execute(
            "INSERT INTO budgets (scope, key, limit_micros, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(scope, key) DO UPDATE SET limit_micros = excluded.limit_micros, "
            "updated_at = excluded.updated_at",
            (row.scope, row.key, row.limit_micros, row.updated_at),
        )

    async def delete(self, conn: aiosqlite.Connection, scope: str, key: str) -> bool:
        cur = await conn.execute("DELETE FROM budgets WHERE scope = ? AND key = ?", (scope, key))
        return (cur.rowcount or 0) > 0

    async def set_mark(self, conn: aiosqlite.Connection, mark: Mark) -> None:
        await conn.execute(
            "INSERT INTO budget_marks (scope, key, period, level, spent_micros, limit_micros, "
            "ts) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(scope, key, period) DO UPDATE SET "
            "level = excluded.level, spent_micros = excluded.spent_micros, "
            "limit_micros = excluded.limit_micros, ts = excluded.ts",
            (mark.scope, mark.key, mark.period, mark.level, mark.spent_micros,
             mark.limit_micros, mark.ts),
        )

    async def clear_mark(self, conn: aiosqlite.Connection, scope: str, key: str,
                         period: str) -> None:
        await conn.execute("DELETE FROM budget_marks WHERE scope = ? AND key = ? AND period = ?",
                           (scope, key, period))

    # -- reads ----------------------------------------------------------------------------
    async def all(self) -> list[BudgetRow]:
        async with self._store.conn.execute(
            "SELECT scope, key, limit_micros, updated_at FROM budgets ORDER BY scope, key"
        ) as cur:
            rows = await cur.fetchall()
        return [BudgetRow(r[0], r[1], r[2], r[3]) for r in rows]

    async def marks(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str], Mark]:
        """The marks of these (scope, key, period) triples, by (scope, key)."""
        if not keys:
            return {}
        where = " OR ".join(["(scope = ? AND key = ? AND period = ?)"] * len(keys))
        args: list[Any] = [v for k in keys for v in k]
        async with self._store.conn.execute(
            "SELECT scope, key, period, level, spent_micros, limit_micros, ts FROM budget_marks "
            f"WHERE {where}", args,
        ) as cur:
            rows = await cur.fetchall()
        return {(r[0], r[1]): Mark(*r) for r in rows}

    async def project_sums(self, project: str) -> list[Sum]:
        """A project's totals per model (the rows of every session that worked there)."""
        async with self._store.conn.execute(
            "SELECT model, SUM(input_tokens), SUM(output_tokens), SUM(reasoning_tokens), "
            "SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cache_read_tokens), "
            "COUNT(*) FROM usage_responses WHERE project = ? GROUP BY model", (project,),
        ) as cur:
            rows = await cur.fetchall()
        return [Sum("", r[0], r[7], Tokens(
            input=r[1] or 0, output=r[2] or 0, reasoning=r[3] or 0, cache_write_5m=r[4] or 0,
            cache_write_1h=r[5] or 0, cache_read=r[6] or 0)) for r in rows]
