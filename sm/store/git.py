"""Rows for sm's git side: registered repos, session worktrees, pushed branches/PRs."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store


@dataclass(frozen=True)
class RepoRecord:
    name: str
    url: str | None
    path: str  # a working repo (kind "local") or a bare mirror (kind "mirror")
    kind: str
    added_at: float
    fetched_at: float | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorktreeRecord:
    session_id: str
    path: str
    repo: str  # the repository's name (a registry name or its directory's name)
    git_dir: str  # the common git dir every git command for this worktree runs against
    branch: str
    base: str
    base_commit: str
    created_branch: bool
    dirty_reported: bool
    created_at: float
    removed_at: float | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PrRecord:
    session_id: str
    url: str | None
    branch: str
    base: str
    pushed_at: float

    def public(self) -> dict[str, Any]:
        return asdict(self)


_WT = ("session_id, path, repo, git_dir, branch, base, base_commit, created_branch, "
       "dirty_reported, created_at, removed_at")


def _worktree(row: sqlite3.Row) -> WorktreeRecord:
    values = dict(row)
    values["created_branch"] = bool(values["created_branch"])
    values["dirty_reported"] = bool(values["dirty_reported"])
    return WorktreeRecord(**values)


class Git:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- repos ----------------------------------------------------------------------------
    async def add_repo(self, conn: aiosqlite.Connection, rec: RepoRecord) -> None:
        await conn.execute(
            "INSERT INTO repos (name, url, path, kind, added_at, fetched_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (rec.name, rec.url, rec.path, rec.kind, rec.added_at, rec.fetched_at),
        )

    async def remove_repo(self, conn: aiosqlite.Connection, name: str) -> None:
        await conn.execute("DELETE FROM repos WHERE name = ?", (name,))

    async def set_fetched(self, conn: aiosqlite.Connection, name: str, ts: float) -> None:
        await conn.execute("UPDATE repos SET fetched_at = ? WHERE name = ?", (ts, name))

    async def repo(self, name: str) -> RepoRecord | None:
        async with self._store.conn.execute(
            "SELECT name, url, path, kind, added_at, fetched_at FROM repos WHERE name = ?",
            (name,),
        ) as cur:
            row = await cur.fetchone()
        return RepoRecord(**dict(row)) if row else None

    async def repos(self) -> list[RepoRecord]:
        async with self._store.conn.execute(
            "SELECT name, url, path, kind, added_at, fetched_at FROM repos ORDER BY name"
        ) as cur:
            return [RepoRecord(**dict(r)) for r in await cur.fetchall()]

    # -- worktrees ------------------------------------------------------------------------
    async def add_worktree(self, conn: aiosqlite.Connection, rec: WorktreeRecord) -> None:
        await conn.execute(
            f"INSERT INTO worktrees ({_WT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rec.session_id, rec.path, rec.repo, rec.git_dir, rec.branch, rec.base,
                rec.base_commit, int(rec.created_branch), int(rec.dirty_reported),
                rec.created_at, rec.removed_at,
            ),
        )

    async def update_worktree(
        self, conn: aiosqlite.Connection, session_id: str, **fields: Any
    ) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        await conn.execute(
            f"UPDATE worktrees SET {sets} WHERE session_id = ?", (*fields.values(), session_id)
        )

    async def worktree(self, session_id: str) -> WorktreeRecord | None:
        async with self._store.conn.execute(
            f"SELECT {_WT} FROM worktrees WHERE session_id = ?", (session_id,)
        ) as cur:
            row = await cur.fetchone()
        return _worktree(row) if row else None

    async def worktrees(self, include_removed: bool = False) -> list[WorktreeRecord]:
        where = "1 = 1" if include_removed else "removed_at IS NULL"
        async with self._store.conn.execute(
            f"SELECT {_WT} FROM worktrees WHERE {where} ORDER BY created_at"
        ) as cur:
            return [_worktree(r) for r in await cur.fetchall()]

    # -- pushed branches and PRs ------------------------------------------------------------
    async def set_pr(self, conn: aiosqlite.Connection, rec: PrRecord) -> None:
        await conn.execute(
            "INSERT INTO prs (session_id, url, branch, base, pushed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(session_id) DO UPDATE SET url = coalesce(excluded.url, prs.url), "
            "branch = excluded.branch, base = excluded.base, pushed_at = excluded.pushed_at",
            (rec.session_id, rec.url, rec.branch, rec.base, rec.pushed_at),
        )

    async def pr(self, session_id: str) -> PrRecord | None:
        async with self._store.conn.execute(
            "SELECT session_id, url, branch, base, pushed_at FROM prs WHERE session_id = ?",
            (session_id,),
        ) as cur:
            row = await cur.fetchone()
        return PrRecord(**dict(row)) if row else None
