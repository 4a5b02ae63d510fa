"""One table: its columns, the record type rows load into, and which columns may change.

Every store module builds its SQL through a ``Table``: inserts take a record, updates
check the column allow-list (a column name never comes from a caller unchecked), JSON
columns are encoded and decoded here, and selects share one shape. Writes take the
caller's connection (inside ``Store.write()``) so a fact and what it causes commit
together; reads use the shared connection, each one round trip to the database thread
(``execute_fetchall``: no cursor to fetch from and close afterwards).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store

R = TypeVar("R")


class Table(Generic[R]):
    def __init__(
        self,
        store: Store,
        name: str,
        columns: Sequence[str],
        record: Callable[..., R],
        *,
        updatable: Iterable[str] = (),
        json_columns: Iterable[str] = (),
        bool_columns: Iterable[str] = (),
    ) -> None:
        self._store = store
        self.name = name
        self.columns = tuple(columns)
        self._record = record
        self._updatable = frozenset(updatable)
        self._json = frozenset(json_columns)
        self._bool = frozenset(bool_columns)
        self._select = f"SELECT {', '.join(self.columns)} FROM {name}"

    def load(self, row: sqlite3.Row) -> R:
        values = dict(row)
        for key in self._json:
            raw = values.get(key)
            values[key] = json.loads(raw) if raw else None
        for key in self._bool:
            values[key] = bool(values[key])
        return self._record(**values)

    def _encode(self, key: str, value: Any) -> Any:
        if key in self._json:
            return None if value is None else json.dumps(value)
        return value

    async def insert(
        self, conn: aiosqlite.Connection, rec: R | Mapping[str, Any], *,
        or_ignore: bool = False, skip: Iterable[str] = (),
    ) -> int:
        """Insert one row; returns its rowid (0 when ``or_ignore`` skipped it).
        ``skip`` leaves columns to their defaults (an autoincrement id)."""
        omitted = frozenset(skip)
        cols = [c for c in self.columns if c not in omitted]
        get = rec.get if isinstance(rec, Mapping) else lambda c: getattr(rec, c)
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        cur = await conn.execute(
            f"{verb} INTO {self.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [self._encode(c, get(c)) for c in cols],
        )
        return (cur.lastrowid or 0) if cur.rowcount else 0

    async def insert_many(self, conn: aiosqlite.Connection, recs: Sequence[R]) -> None:
        """Insert several records in one statement."""
        await conn.executemany(
            f"INSERT INTO {self.name} ({', '.join(self.columns)}) "
            f"VALUES ({', '.join('?' * len(self.columns))})",
            [[self._encode(c, getattr(rec, c)) for c in self.columns] for rec in recs],
        )

    async def update(
        self, conn: aiosqlite.Connection, where: str, args: Sequence[Any], **fields: Any
    ) -> int:
        """Set ``fields`` on the rows matching ``where``; returns how many changed.
        Raises ValueError for a column outside the allow-list (a bug, never input)."""
        unknown = set(fields) - self._updatable
        if unknown:
            raise ValueError(f"{self.name}: not updatable: {sorted(unknown)}")
        if not fields:
            return 0
        sets = ", ".join(f"{k} = ?" for k in fields)
        cur = await conn.execute(
            f"UPDATE {self.name} SET {sets} WHERE {where}",
            [*(self._encode(k, v) for k, v in fields.items()), *args],
        )
        return cur.rowcount

    async def select(
        self, where: str = "1 = 1", args: Sequence[Any] = (), *, order: str = "rowid",
        limit: int = 10000, conn: aiosqlite.Connection | None = None,
    ) -> list[R]:
        rows = await (conn or self._store.conn).execute_fetchall(
            f"{self._select} WHERE {where} ORDER BY {order} LIMIT ?", (*args, limit))
        return [self.load(r) for r in rows]

    async def one(self, where: str, args: Sequence[Any] = (), *, order: str = "rowid"
                  ) -> R | None:
        rows = await self.select(where, args, order=order, limit=1)
        return rows[0] if rows else None

    async def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first column of the first row of any query (None when no row)."""
        rows = await self.query(sql, args)
        return rows[0][0] if rows else None

    async def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of any read query on this table's store (one round trip to the
        database thread)."""
        return list(await self._store.conn.execute_fetchall(sql, args))


def placeholders(values: Sequence[Any]) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``values``."""
    return ", ".join("?" * len(values))


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching ``prefix`` literally, then anything (use ESCAPE '\\')."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
