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

_MANY = 500  # rows per INSERT statement (4 parameters each; SQLite allows 32,766)


@dataclass(frozen=True)
class EventRecord:
    seq: int
    ts: float
    session_id: str | None
    kind: str
    payload: dict[str, Any]


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

    async def append_many(
        self, conn: aiosqlite.Connection, rows: builtins.list[tuple[float, str | None, str,
                                                                   dict[str, Any]]],
    ) -> builtins.list[EventRecord]:
        """Append ``(ts, session_id, kind, payload)`` rows inside the caller's write
        transaction, one round trip per ``_MANY`` rows (one statement that returns the
        seqs it gave: increasing in the rows' order, whatever order SQLite returns them
        in)."""
        out: builtins.list[EventRecord] = []
        for start in range(0, len(rows), _MANY):
            chunk = rows[start:start + _MANY]
            returned = await conn.execute_fetchall(
                "INSERT INTO events (ts, session_id, kind, payload) VALUES "
                + ", ".join(["(?, ?, ?, ?)"] * len(chunk)) + " RETURNING seq",
                [v for ts, sid, kind, payload in chunk
                 for v in (ts, sid, kind, json.dumps(payload))],
            )
            seqs = sorted(int(r[0]) for r in returned)
            out += [EventRecord(seq, ts, sid, kind, payload)
                    for seq, (ts, sid, kind, payload) in zip(seqs, chunk, strict=True)]
        return out

    async def list(
        self,
        *,
        session_id: str | None = None,
        after: int = 0,
        limit: int = 100,
        kinds: tuple[str, ...] = (),
        newest: bool = False,
        session_ids: builtins.list[str] | None = None,
        before: int | None = None,
    ) -> builtins.list[EventRecord]:
        """Events with ``seq > after`` (and ``< before``) in order; ``newest`` takes the
        last ``limit``. ``session_ids``: only events of these sessions."""
        where: list[str] = ["seq > ?"]
        args: list[Any] = [after]
        if before is not None:
            where.append("seq < ?")
            args.append(before)
        if session_id is not None:
            where.append("session_id = ?")
            args.append(session_id)
        if session_ids is not None:
            where.append(f"session_id IN ({', '.join('?' * len(session_ids)) or 'NULL'})")
            args.extend(session_ids)
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            args.extend(kinds)
        order = "DESC" if newest else "ASC"
        rows = await self._store.conn.execute_fetchall(
            f"SELECT seq, ts, session_id, kind, payload FROM events "
            f"WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?",
            (*args, limit),
        )
        records = [
            EventRecord(r["seq"], r["ts"], r["session_id"], r["kind"], json.loads(r["payload"]))
            for r in rows
        ]
        return records[::-1] if newest else records

    async def turn_ends(self, session_id: str, limit: int = 2) -> builtins.list[int]:
        """The seqs of the session's last ``limit`` turn ends, newest first."""
        out: builtins.list[int] = []
        rows = await self._store.conn.execute_fetchall(
            "SELECT seq, payload FROM events WHERE session_id = ? AND kind = 'state' "
            "ORDER BY seq DESC LIMIT 200", (session_id,))
        for row in rows:
            if json.loads(row[1]).get("turn_ended"):
                out.append(int(row[0]))
                if len(out) == limit:
                    break
        return out
