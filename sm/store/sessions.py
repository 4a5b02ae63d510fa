"""Session rows."""

from __future__ import annotations

import builtins
import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.errors import Conflict
from sm.store.table import Table, like_prefix, placeholders
from sm.vocab import DEAD, SessionState

if TYPE_CHECKING:
    from sm.store.db import Store

_DEAD = tuple(sorted(DEAD))
# sessions_live_name's WHERE, word for word: SQLite uses a partial index only when the
# query repeats its terms as literals (bound parameters never match them)
LIVE_WHERE = "state NOT IN ('exited', 'error', 'stopped')"
LIVE_NAME_WHERE = f"name IS NOT NULL AND {LIVE_WHERE}"


@dataclass(frozen=True)
class LaunchFacts:
    """One provider's launches as the store knows them (``Sessions.launch_facts``)."""

    last: float | None  # its latest launch
    starting: tuple[float, ...]  # launch times of its sessions still starting
    failures: tuple[dict[str, Any], ...]  # its sessions' recent rate-limit failures


@dataclass(frozen=True)
class SessionRecord:
    id: str
    name: str | None
    provider: str
    state: SessionState
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
    turn_owed: bool = False  # a prompt taken mid-turn waits for a turn of its own
    tool_running: bool = False  # a tool call is in flight
    forgotten_at: float | None = None  # sm forget / sm prune: left out of lists
    # the last failure (sm/core/health.py): {class, detail, reset_at?, at, lifted_at?}
    failure: dict[str, Any] | None = None
    # a spawn whose agent is not launched yet (sm/core/launches.py): {reason, since}
    launch_hold: dict[str, Any] | None = None
    launched_at: float | None = None  # when its agent's process was last started

    def __post_init__(self) -> None:
        if not isinstance(self.state, SessionState):
            object.__setattr__(self, "state", SessionState(self.state))

    @property
    def is_live(self) -> bool:
        return self.state.is_live

    @property
    def label(self) -> str:
        return self.name or self.id


_COLUMNS = (
    "id", "name", "provider", "state", "cwd", "tmux_session", "parent_id", "options",
    "created_at", "updated_at", "conversation_id", "transcript_path", "last_message",
    "exit_status", "status_text", "role", "token_hash", "turn_owed", "tool_running",
    "forgotten_at", "failure", "launch_hold", "launched_at",
)
_UPDATABLE = (
    "name", "state", "conversation_id", "transcript_path", "last_message", "exit_status",
    "status_text", "role", "options", "cwd", "tmux_session", "token_hash", "updated_at",
    "turn_owed", "tool_running", "forgotten_at", "failure", "launch_hold", "launched_at",
)


def _load(**values: Any) -> SessionRecord:
    values["options"] = values["options"] or {}
    return SessionRecord(**values)


class Sessions:
    def __init__(self, store: Store) -> None:
        self._rows = Table(store, "sessions", _COLUMNS, _load, updatable=_UPDATABLE,
                           json_columns=("options", "failure", "launch_hold"),
                           bool_columns=("turn_owed", "tool_running"))

    async def insert(self, conn: aiosqlite.Connection, rec: SessionRecord) -> None:
        """Insert inside the caller's write transaction. Raises Conflict when the
        name is held by another live session."""
        try:
            await self._rows.insert(conn, rec)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"the name {rec.name!r} is taken by a live session") from exc

    async def update(
        self, conn: aiosqlite.Connection, session_id: str, now: float, **fields: Any
    ) -> None:
        """Update columns inside the caller's write transaction. Raises Conflict when a
        new name (or a revived session's name) collides with a live session."""
        try:
            await self._rows.update(conn, "id = ?", (session_id,), **fields, updated_at=now)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"the name {fields.get('name')!r} is taken by a live session"
                           ) from exc

    async def get(self, session_id: str) -> SessionRecord | None:
        return await self._rows.one("id = ?", (session_id,))

    async def by_token_hash(self, token_hash: str) -> SessionRecord | None:
        return await self._rows.one("token_hash = ?", (token_hash,))

    async def by_tmux_session(self, tmux_session: str) -> SessionRecord | None:
        return await self._rows.one("tmux_session = ?", (tmux_session,))

    async def find(self, ref: str) -> builtins.list[SessionRecord]:
        """Sessions matching ``ref`` as an id, a live (then any) name, or an id prefix —
        the first kind that matches wins."""
        # the id and the live name in one indexed lookup: the common case
        rows = await self._rows.select(f"id = ? OR (name = ? AND {LIVE_NAME_WHERE})",
                                       (ref, ref), order="created_at DESC", limit=50)
        if rows:
            return [r for r in rows if r.id == ref] or rows
        queries: tuple[tuple[str, tuple[Any, ...]], ...] = (
            ("name = ?", (ref,)),
            ("id LIKE ? ESCAPE '\\'", (like_prefix(ref),)),
        )
        for where, args in queries:
            rows = await self._rows.select(where, args, order="created_at DESC", limit=50)
            if rows:
                return rows
        return []

    async def list(
        self,
        *,
        live_only: bool = False,
        parent_id: str | None = None,
        after: str | None = None,
        limit: int = 1000,
        forgotten: bool = True,
        ended_before: float | None = None,
    ) -> builtins.list[SessionRecord]:
        """Sessions in creation order, ``after`` an id (cursor) when given; without the
        forgotten ones unless ``forgotten``; ``ended_before``: dead ones last changed
        before that time."""
        where: builtins.list[str] = ["1 = 1"]
        args: builtins.list[Any] = []
        if not forgotten:
            where.append("forgotten_at IS NULL")
        if ended_before is not None:
            where.append(f"state IN ({placeholders(_DEAD)}) AND updated_at < ?")
            args.extend((*_DEAD, ended_before))
        if live_only:
            where.append(LIVE_WHERE)
        if parent_id is not None:
            where.append("parent_id = ?")
            args.append(parent_id)
        if after:
            where.append("rowid > (SELECT rowid FROM sessions WHERE id = ?)")
            args.append(after)
        return await self._rows.select(" AND ".join(where), args, limit=limit)

    async def ids_in(self, cwd: str) -> builtins.list[str]:
        """The ids of every session (dead and forgotten ones too) started in ``cwd``,
        oldest first."""
        rows = await self._rows.query("SELECT id FROM sessions WHERE cwd = ? ORDER BY rowid",
                                      (cwd,))
        return [r[0] for r in rows]

    async def held(self, provider: str | None = None) -> builtins.list[SessionRecord]:
        """Sessions still ``starting`` whose agent is not launched yet (a launch hold),
        oldest first; only ``provider``'s when given."""
        where, args = "state = ? AND launch_hold IS NOT NULL", [SessionState.STARTING.value]
        if provider is not None:
            where += " AND provider = ?"
            args.append(provider)
        return await self._rows.select(where, args)

    async def launch_facts(self, provider: str, since: float) -> LaunchFacts:
        """What a launch of ``provider`` depends on: its latest launch, the launch times
        of its sessions still starting (launched at ``since`` or later), and its
        sessions' rate-limit failures that were, or reset, at ``since`` or later."""
        rows = await self._rows.query(
            "SELECT MAX(launched_at) FROM sessions WHERE provider = ?", (provider,))
        last = rows[0][0] if rows else None
        rows = await self._rows.query(
            "SELECT launched_at FROM sessions WHERE provider = ? AND state = ? AND "
            "launch_hold IS NULL AND launched_at >= ? ORDER BY launched_at",
            (provider, SessionState.STARTING.value, since))
        starting = tuple(float(r[0]) for r in rows)
        rows = await self._rows.query(
            "SELECT failure FROM sessions WHERE provider = ? AND "
            "json_extract(failure, '$.class') = 'rate_limit' AND "
            "max(coalesce(json_extract(failure, '$.reset_at'), 0), "
            "coalesce(json_extract(failure, '$.at'), 0)) >= ?", (provider, since))
        failures = tuple(json.loads(r[0]) for r in rows)
        return LaunchFacts(None if last is None else float(last), starting, failures)

    async def ancestors(self, session_id: str) -> builtins.list[str]:
        """The ids above ``session_id``, parent first (one recursive query)."""
        rows = await self._rows.query(
            "WITH RECURSIVE up(id, parent_id, depth) AS ("
            " SELECT id, parent_id, 0 FROM sessions WHERE id = ?"
            " UNION ALL SELECT s.id, s.parent_id, up.depth + 1 FROM sessions s"
            " JOIN up ON s.id = up.parent_id WHERE up.depth < 1000)"
            " SELECT id FROM up WHERE depth > 0 ORDER BY depth",
            (session_id,),
        )
        return [r[0] for r in rows]

    async def descendants(self, session_id: str) -> builtins.list[str]:
        """The ids below ``session_id`` (children, grandchildren …)."""
        rows = await self._rows.query(
            "WITH RECURSIVE down(id, depth) AS ("
            " SELECT id, 0 FROM sessions WHERE id = ?"
            " UNION ALL SELECT s.id, down.depth + 1 FROM sessions s"
            " JOIN down ON s.parent_id = down.id WHERE down.depth < 1000)"
            " SELECT id FROM down WHERE depth > 0",
            (session_id,),
        )
        return [r[0] for r in rows]
