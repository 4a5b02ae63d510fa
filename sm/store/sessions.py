"""Session rows."""

from __future__ import annotations

import builtins
import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.errors import Conflict

if TYPE_CHECKING:
    from sm.store.db import Store

DEAD_STATES = ("exited", "error", "stopped")


@dataclass(frozen=True)
class SessionRecord:
    id: str
    name: str | None
    provider: str
    state: str
    cwd: str
    tmux_session: str
    parent_id: str | None
    options: dict[str, Any]
    created_at: float
    updated_at: float
    conversation_id: str | None = None
    transcript_path: str | None = None
    last_message: str | None = None
    exit_status: int | None = None
    status_text: str | None = None
    role: str | None = None
    token_hash: str = field(default="", repr=False)

    @property
    def is_live(self) -> bool:
        return self.state not in DEAD_STATES

    @property
    def label(self) -> str:
        return self.name or self.id

    def public(self) -> dict[str, Any]:
        """The session as the API shows it (never the token hash)."""
        return {
            "id": self.id,
            "name": self.name,
            "provider": self.provider,
            "state": self.state,
            "cwd": self.cwd,
            "tmux_session": self.tmux_session,
            "parent_id": self.parent_id,
            "options": self.options,
            "conversation_id": self.conversation_id,
            "transcript_path": self.transcript_path,
            "last_message": self.last_message,
            "exit_status": self.exit_status,
            "status_text": self.status_text,
            "role": self.role,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


_COLUMNS = (
    "id, name, provider, state, cwd, tmux_session, parent_id, options, created_at, "
    "updated_at, conversation_id, transcript_path, last_message, exit_status, status_text, "
    "role, token_hash"
)
_UPDATABLE = {
    "name", "state", "conversation_id", "transcript_path", "last_message", "exit_status",
    "status_text", "role", "options", "cwd", "tmux_session", "token_hash",
}


def _record(row: sqlite3.Row) -> SessionRecord:
    values = dict(row)
    values["options"] = json.loads(values["options"] or "{}")
    return SessionRecord(**values)


class Sessions:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def insert(self, conn: aiosqlite.Connection, rec: SessionRecord) -> None:
        """Insert inside the caller's write transaction. Raises Conflict when the
        name is held by another live session."""
        try:
            await conn.execute(
                f"INSERT INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' * 17)})",
                (
                    rec.id, rec.name, rec.provider, rec.state, rec.cwd, rec.tmux_session,
                    rec.parent_id, json.dumps(rec.options), rec.created_at, rec.updated_at,
                    rec.conversation_id, rec.transcript_path, rec.last_message,
                    rec.exit_status, rec.status_text, rec.role, rec.token_hash,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"the name {rec.name!r} is taken by a live session") from exc

    async def update(
        self, conn: aiosqlite.Connection, session_id: str, now: float, **fields: Any
    ) -> None:
        """Update columns inside the caller's write transaction. Raises Conflict when a
        new name (or a revived session's name) collides with a live session."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"])
        sets = ", ".join(f"{k} = ?" for k in fields)
        try:
            await conn.execute(
                f"UPDATE sessions SET {sets}, updated_at = ? WHERE id = ?",
                (*fields.values(), now, session_id),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict("the name is taken by a live session") from exc

    async def get(self, session_id: str) -> SessionRecord | None:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
        ) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def by_token_hash(self, token_hash: str) -> SessionRecord | None:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,)
        ) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def by_tmux_session(self, tmux_session: str) -> SessionRecord | None:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE tmux_session = ?", (tmux_session,)
        ) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def find(self, ref: str) -> list[SessionRecord]:
        """Sessions matching ``ref`` as an id, a live (then any) name, or an id prefix —
        the first kind that matches wins."""
        queries = (
            ("id = ?", ref),
            (f"name = ? AND state NOT IN {DEAD_STATES}", ref),
            ("name = ?", ref),
            ("id LIKE ? ESCAPE '\\'", ref.replace("%", "\\%").replace("_", "\\_") + "%"),
        )
        for where, arg in queries:
            async with self._store.conn.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE {where} ORDER BY created_at DESC",
                (arg,),
            ) as cur:
                rows = await cur.fetchall()
            if rows:
                return [_record(r) for r in rows]
        return []

    async def list(
        self,
        *,
        live_only: bool = False,
        parent_id: str | None = None,
        after: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[SessionRecord]:
        """Sessions in creation order, ``after`` an id (cursor) when given."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if live_only:
            where.append(f"state NOT IN {DEAD_STATES}")
        if parent_id is not None:
            where.append("parent_id = ?")
            args.append(parent_id)
        if after:
            where.append("rowid > (SELECT rowid FROM sessions WHERE id = ?)")
            args.append(after)
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM sessions WHERE {' AND '.join(where)} "
            f"ORDER BY rowid LIMIT ?",
            (*args, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [_record(r) for r in rows]
