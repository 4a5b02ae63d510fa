"""Lease rows: one per (session, canonical path)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import aiosqlite

    from sm.store.db import Store

Kind = Literal["path", "workspace"]


@dataclass(frozen=True)
class Lease:
    """One lease. ``expires_at`` None: held while the holder lives. ``auto`` leases
    were taken by the write guard and end when their holder stays idle past the grace."""

    id: str
    path: str
    session_id: str
    kind: Kind
    reason: str
    auto: bool
    acquired_at: float
    ttl: float | None = None
    expires_at: float | None = None
    repo: str | None = None


_COLUMNS = "id, path, session_id, kind, reason, auto, ttl, expires_at, repo, acquired_at"


def _record(row: sqlite3.Row) -> Lease:
    values = dict(row)
    values["auto"] = bool(values["auto"])
    return Lease(**values)


class Locks:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def upsert(self, conn: aiosqlite.Connection, lease: Lease) -> None:
        """Insert the lease, or replace the holder's lease on the same path, inside the
        caller's write transaction."""
        await conn.execute(
            f"INSERT INTO locks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(session_id, path) DO UPDATE SET id = excluded.id, "
            "kind = excluded.kind, reason = excluded.reason, auto = excluded.auto, "
            "ttl = excluded.ttl, expires_at = excluded.expires_at, repo = excluded.repo, "
            "acquired_at = excluded.acquired_at",
            (
                lease.id, lease.path, lease.session_id, lease.kind, lease.reason,
                int(lease.auto), lease.ttl, lease.expires_at, lease.repo, lease.acquired_at,
            ),
        )

    async def delete(self, conn: aiosqlite.Connection, lease_ids: list[str]) -> None:
        await conn.executemany("DELETE FROM locks WHERE id = ?", [(i,) for i in lease_ids])

    async def set_expiry(
        self, conn: aiosqlite.Connection, lease_ids: list[str], expires_at: float | None
    ) -> None:
        await conn.executemany(
            "UPDATE locks SET expires_at = ? WHERE id = ?", [(expires_at, i) for i in lease_ids]
        )

    async def all(self) -> list[Lease]:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM locks ORDER BY acquired_at, path"
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]

    async def count(self) -> int:
        async with self._store.conn.execute("SELECT count(*) FROM locks") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

