"""Note rows: the key/value scratchpad. ``seq`` is the event seq of the last write, so
a watcher resumes from a cursor without missing a write."""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store

_COLUMNS = "key, value, version, seq, written_by, writer, created_at, updated_at"


@dataclass(frozen=True)
class NoteRecord:
    key: str
    value: str
    version: int  # 1 on the first write, +1 on each
    seq: int  # the event seq of the last write
    written_by: str | None  # the session that wrote it last (None: the operator)
    writer: str  # its label
    created_at: float
    updated_at: float


def _record(row: sqlite3.Row) -> NoteRecord:
    return NoteRecord(**dict(row))


class Notes:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def put(
        self, conn: aiosqlite.Connection, key: str, value: str, seq: int,
        written_by: str | None, writer: str, now: float,
    ) -> NoteRecord:
        """Insert or overwrite ``key`` inside the caller's transaction."""
        await conn.execute(
            f"INSERT INTO notes ({_COLUMNS}) VALUES (?, ?, 1, ?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, version = version + 1, "
            "seq = excluded.seq, written_by = excluded.written_by, writer = excluded.writer, "
            "updated_at = excluded.updated_at",
            (key, value, seq, written_by, writer, now, now),
        )
        async with conn.execute(f"SELECT {_COLUMNS} FROM notes WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        assert row is not None
        return _record(row)

    async def delete(self, conn: aiosqlite.Connection, key: str) -> bool:
        cur = await conn.execute("DELETE FROM notes WHERE key = ?", (key,))
        return cur.rowcount > 0

    async def get(self, key: str) -> NoteRecord | None:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM notes WHERE key = ?", (key,)
        ) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def many(self, keys: builtins.list[str]) -> builtins.list[NoteRecord]:
        if not keys:
            return []
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM notes WHERE key IN ({', '.join('?' * len(keys))})",
            tuple(keys),
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def list(
        self, prefix: str = "", after: str = "", limit: int = 1000
    ) -> builtins.list[NoteRecord]:
        """Notes whose key starts with ``prefix``, in key order, after the key ``after``."""
        # a range, not LIKE: LIKE ignores case
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM notes WHERE key >= ? AND key < ? AND key > ? "
            "ORDER BY key LIMIT ?",
            (prefix, prefix + "\U0010ffff", after, limit),
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def written_after(
        self, seq: int, keys: Sequence[str] = (), prefix: str | None = None
    ) -> builtins.list[NoteRecord]:
        """Notes among ``keys`` (or under ``prefix``) last written after event ``seq``,
        oldest write first."""
        args: tuple[str, ...]
        if prefix is not None:
            where, args = "key >= ? AND key < ?", (prefix, prefix + "\U0010ffff")
        else:
            where, args = f"key IN ({', '.join('?' * len(keys))})", tuple(keys)
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM notes WHERE seq > ? AND {where} ORDER BY seq LIMIT 100",
            (seq, *args),
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def last_seq(self) -> int:
        """The newest event seq (a watch that starts now resumes from here)."""
        async with self._store.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
