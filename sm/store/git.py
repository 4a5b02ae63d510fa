"""Rows for sm's git side: registered repos, session worktrees, pushed branches/PRs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.store.table import Table

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


@dataclass(frozen=True)
class PrRecord:
    session_id: str
    url: str | None
    branch: str
    base: str
    pushed_at: float


_WT = ("session_id", "path", "repo", "git_dir", "branch", "base", "base_commit",
       "created_branch", "dirty_reported", "created_at", "removed_at")
_REPO = ("name", "url", "path", "kind", "added_at", "fetched_at")


class Git:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._repos = Table(store, "repos", _REPO, RepoRecord, updatable=("fetched_at",))
        self._worktrees = Table(store, "worktrees", _WT, WorktreeRecord,
                                updatable=("dirty_reported", "removed_at"),
                                bool_columns=("created_branch", "dirty_reported"))

    # -- repos ----------------------------------------------------------------------------
    async def add_repo(self, conn: aiosqlite.Connection, rec: RepoRecord) -> None:
        await self._repos.insert(conn, rec)

    async def remove_repo(self, conn: aiosqlite.Connection, name: str) -> None:
        await conn.execute("DELETE FROM repos WHERE name = ?", (name,))

    async def set_fetched(self, conn: aiosqlite.Connection, name: str, ts: float) -> None:
        await self._repos.update(conn, "name = ?", (name,), fetched_at=ts)

    async def repo(self, name: str) -> RepoRecord | None:
        return await self._repos.one("name = ?", (name,))

    async def repos(self) -> list[RepoRecord]:
        return await self._repos.select(order="name")

    # -- worktrees ------------------------------------------------------------------------
    async def add_worktree(self, conn: aiosqlite.Connection, rec: WorktreeRecord) -> None:
        await self._worktrees.insert(conn, rec)

    async def update_worktree(
        self, conn: aiosqlite.Connection, session_id: str, **fields: Any
    ) -> None:
        await self._worktrees.update(conn, "session_id = ?", (session_id,), **fields)

    async def worktree(self, session_id: str) -> WorktreeRecord | None:
        return await self._worktrees.one("session_id = ?", (session_id,))

    async def worktrees(self, include_removed: bool = False) -> list[WorktreeRecord]:
        where = "1 = 1" if include_removed else "removed_at IS NULL"
        return await self._worktrees.select(where, order="created_at")

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
