"""Knowledge-base entries and their FTS5 index (``kb_fts``, kept in step by triggers).

    scope    project (``project`` names it) | global
    seen     how many times the entry was reported: a merged duplicate adds one
"""

from __future__ import annotations

import builtins
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.errors import InvalidInput

if TYPE_CHECKING:
    from sm.store.db import Store

_COLUMNS = (
    "id, title, norm_title, content, tags, scope, project, job_id, session_id, agent, seen, "
    "created_at, updated_at"
)
_E_COLUMNS = ", ".join(f"e.{c.strip()}" for c in _COLUMNS.split(","))
_UPDATABLE = {"title", "norm_title", "content", "tags", "scope", "project", "seen"}
# bm25 weights per column (title, content, tags): a word in the title counts most
_RANK = "bm25(kb_fts, 4.0, 1.0, 2.0)"


@dataclass(frozen=True)
class EntryRecord:
    id: int
    title: str
    norm_title: str
    content: str
    tags: str  # space-separated, lower case
    scope: str
    project: str | None
    job_id: str | None
    session_id: str | None
    agent: str  # who produced it: a session's label, or "operator"
    seen: int
    created_at: float
    updated_at: float

    @property
    def tag_list(self) -> list[str]:
        return self.tags.split()


def _record(row: sqlite3.Row) -> EntryRecord:
    values = dict(row)
    values.pop("rank", None)
    return EntryRecord(**values)


class Kb:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def insert(self, conn: aiosqlite.Connection, e: EntryRecord) -> int:
        """Insert (``e.id`` is ignored); returns the new id."""
        cur = await conn.execute(
            "INSERT INTO kb_entries (title, norm_title, content, tags, scope, project, job_id, "
            "session_id, agent, seen, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (e.title, e.norm_title, e.content, e.tags, e.scope, e.project, e.job_id,
             e.session_id, e.agent, e.seen, e.created_at, e.updated_at),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def update(
        self, conn: aiosqlite.Connection, entry_id: int, now: float, **fields: Any
    ) -> None:
        bad = set(fields) - _UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {bad}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        await conn.execute(
            f"UPDATE kb_entries SET {sets}, updated_at = ? WHERE id = ?",
            (*fields.values(), now, entry_id),
        )

    async def delete(self, conn: aiosqlite.Connection, entry_id: int) -> bool:
        cur = await conn.execute("DELETE FROM kb_entries WHERE id = ?", (entry_id,))
        return cur.rowcount > 0

    async def get(self, entry_id: int) -> EntryRecord | None:
        rows = await self._select("id = ?", (entry_id,), limit=1)
        return rows[0] if rows else None

    async def by_title(self, norm_title: str, project: str | None) -> builtins.list[EntryRecord]:
        """Entries with this normalised title that a job in ``project`` would see."""
        where, args = _visible(project)
        return await self._select(f"norm_title = ? AND {where}", (norm_title, *args))

    async def search(
        self, match: str, *, project: str | None = None, all_projects: bool = False,
        limit: int = 20,
    ) -> builtins.list[tuple[EntryRecord, float]]:
        """Entries matching the FTS5 expression ``match``, best first, with their bm25
        rank (lower is better). Only global entries and ``project``'s, unless
        ``all_projects``. Raises InvalidInput for an expression FTS5 cannot parse."""
        where, args = ("1 = 1", ()) if all_projects else _visible(project, "e.")
        try:
            async with self._store.conn.execute(
                f"SELECT {_E_COLUMNS}, {_RANK} AS rank FROM kb_fts "
                f"JOIN kb_entries e ON e.id = kb_fts.rowid "
                f"WHERE kb_fts MATCH ? AND {where} ORDER BY rank LIMIT ?",
                (match, *args, limit),
            ) as cur:
                rows = await cur.fetchall()
        except sqlite3.OperationalError as exc:
            raise InvalidInput(f"cannot search for {match!r}: {exc}") from exc
        return [(_record(r), float(r["rank"])) for r in rows]

    async def list(
        self, *, project: str | None = None, scope: str | None = None, tag: str | None = None,
        after: int = 0, limit: int = 100, order: str = "id",
    ) -> builtins.list[EntryRecord]:
        """Entries in id order after ``after`` (or ``order="seen"``: most reported
        first), filtered by exact ``project``, ``scope`` and ``tag``."""
        where: list[str] = ["id > ?"]
        args: list[Any] = [after]
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if scope is not None:
            where.append("scope = ?")
            args.append(scope)
        if tag:
            where.append("(' ' || tags || ' ') LIKE ?")
            args.append(f"% {tag.lower()} %")
        sort = "seen DESC, updated_at DESC" if order == "seen" else "id"
        return await self._select(" AND ".join(where), tuple(args), order=sort, limit=limit)

    async def most_seen(self, project: str, limit: int) -> builtins.list[EntryRecord]:
        """``project``'s own entries, most reported (then newest) first."""
        return await self._select("scope = 'project' AND project = ?", (project,),
                                  order="seen DESC, updated_at DESC", limit=limit)

    async def count(self) -> int:
        async with self._store.conn.execute("SELECT COUNT(*) FROM kb_entries") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _select(
        self, where: str, args: tuple[Any, ...], order: str = "id", limit: int = 10000
    ) -> builtins.list[EntryRecord]:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM kb_entries WHERE {where} ORDER BY {order} LIMIT ?",
            (*args, limit),
        ) as cur:
            return [_record(r) for r in await cur.fetchall()]


def _visible(project: str | None, alias: str = "") -> tuple[str, tuple[Any, ...]]:
    if project is None:
        return f"{alias}scope = 'global'", ()
    return f"({alias}scope = 'global' OR {alias}project = ?)", (project,)
