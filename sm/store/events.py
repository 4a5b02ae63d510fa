"""The append-only event log."""

from __future__ import annotations

import builtins
import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store


@dataclass(frozen=True)
class EventRecord:
    seq: int
    ts: float
    session_id: str | None
    kind: str
    payload: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {
            "v": 1,
            "seq": self.seq,
            "ts": self.ts,
            "session_id": self.session_id,
            "kind": self.kind,
            "payload": self.payload,
        }


class Events:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def append(
        self,
        conn: aiosqlite.Connection,
        ts: float,
        session_id: str | None,
        kind: str,
        payload: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> EventRecord | None:
        """Append inside the caller's write transaction. Returns None (and writes
        nothing) when an event with the same ``dedupe_key`` exists."""
        try:
            cur = await conn.execute(
                "INSERT INTO events (ts, session_id, kind, payload, dedupe_key) "
                "VALUES (?, ?, ?, ?, ?)",
                (ts, session_id, kind, json.dumps(payload), dedupe_key),
            )
        except sqlite3.IntegrityError:
            if dedupe_key is None:
                raise
            return None
        seq = cur.lastrowid
        assert seq is not None
        return EventRecord(seq, ts, session_id, kind, payload)

    async def list(
        self,
        *,
        session_id: str | None = None,
        after: int = 0,
        limit: int = 100,
        kinds: tuple[str, ...] = (),
        newest: bool = False,
        before: int | None = None,
    ) -> builtins.list[EventRecord]:
        """Events with ``seq > after`` (and ``< before``) in order; ``newest`` takes the
        last ``limit``."""
        where: list[str] = ["seq > ?"]
        args: list[Any] = [after]
        if before is not None:
            where.append("seq < ?")
            args.append(before)
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args.extend(kinds)
        order = "DESC" if newest else "ASC"
        async with self._store.conn.execute(
            f"SELECT seq, ts, session_id, kind, payload FROM events "
            f"WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?",
            (*args, limit),
        ) as cur:
            rows = await cur.fetchall()
        records = [
            EventRecord(r["seq"], r["ts"], r["session_id"], r["kind"], json.loads(r["payload"]))
            for r in rows
        ]
        return records[::-1] if newest else records
