"""Job templates (named prompt skeletons with defaults, and their statistics) and
projects (a name that groups jobs, with its own concurrency cap)."""

from __future__ import annotations

import builtins
import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from sm.store.db import Store

_T_COLUMNS = "name, guidelines, provider, model, cwd, options, created_at, updated_at"


@dataclass(frozen=True)
class TemplateRecord:
    name: str
    guidelines: str  # the skeleton; ``{key}`` is filled from the job's context
    provider: str | None
    model: str | None
    cwd: str | None
    created_at: float
    updated_at: float
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateStats:
    """Over the template's finished attempts. ``cost`` is None until sm records costs."""

    template: str
    attempts: int
    succeeded: int
    mean_turns: float | None
    mean_seconds: float | None
    cost: float | None = None

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.attempts if self.attempts else None


@dataclass(frozen=True)
class ProjectRecord:
    name: str
    max_concurrent: int  # 0: only the global cap applies
    created_at: float


def _template(row: sqlite3.Row) -> TemplateRecord:
    values = dict(row)
    values["options"] = json.loads(values["options"] or "{}")
    return TemplateRecord(**values)


class JobTemplates:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- templates -------------------------------------------------------------------
    async def put(self, conn: aiosqlite.Connection, t: TemplateRecord) -> None:
        """Insert or replace the template (its ``created_at`` is kept)."""
        await conn.execute(
            f"INSERT INTO job_templates ({_T_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET guidelines = excluded.guidelines, "
            "provider = excluded.provider, model = excluded.model, cwd = excluded.cwd, "
            "options = excluded.options, updated_at = excluded.updated_at",
            (t.name, t.guidelines, t.provider, t.model, t.cwd, json.dumps(t.options),
             t.created_at, t.updated_at),
        )

    async def delete(self, conn: aiosqlite.Connection, name: str) -> bool:
        cur = await conn.execute("DELETE FROM job_templates WHERE name = ?", (name,))
        return cur.rowcount > 0

    async def get(self, name: str) -> TemplateRecord | None:
        async with self._store.conn.execute(
            f"SELECT {_T_COLUMNS} FROM job_templates WHERE name = ?", (name,)
        ) as cur:
            row = await cur.fetchone()
        return _template(row) if row else None

    async def list(self) -> builtins.list[TemplateRecord]:
        async with self._store.conn.execute(
            f"SELECT {_T_COLUMNS} FROM job_templates ORDER BY name"
        ) as cur:
            return [_template(r) for r in await cur.fetchall()]

    async def stats(self, names: builtins.list[str] | None = None
                    ) -> dict[str, TemplateStats]:
        """Per template, over its finished attempts (requeued ones do not count)."""
        async with self._store.conn.execute(
            "SELECT template, COUNT(*), SUM(outcome = 'succeeded'), AVG(turns), "
            "AVG(ended_at - started_at) FROM job_runs "
            "WHERE template IS NOT NULL AND outcome IN ('succeeded', 'failed') "
            "GROUP BY template"
        ) as cur:
            rows = await cur.fetchall()
        out = {
            r[0]: TemplateStats(r[0], int(r[1]), int(r[2] or 0), r[3], r[4]) for r in rows
        }
        for name in names or ():
            out.setdefault(name, TemplateStats(name, 0, 0, None, None))
        return out

    # -- projects --------------------------------------------------------------------
    async def ensure_project(self, conn: aiosqlite.Connection, name: str, now: float) -> None:
        await conn.execute(
            "INSERT OR IGNORE INTO job_projects (name, max_concurrent, created_at) "
            "VALUES (?, 0, ?)", (name, now))

    async def set_project(
        self, conn: aiosqlite.Connection, name: str, max_concurrent: int, now: float
    ) -> None:
        await conn.execute(
            "INSERT INTO job_projects (name, max_concurrent, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET max_concurrent = excluded.max_concurrent",
            (name, max_concurrent, now))

    async def project(self, name: str) -> ProjectRecord | None:
        async with self._store.conn.execute(
            "SELECT name, max_concurrent, created_at FROM job_projects WHERE name = ?", (name,)
        ) as cur:
            row = await cur.fetchone()
        return ProjectRecord(**dict(row)) if row else None

    async def projects(self) -> builtins.list[ProjectRecord]:
        async with self._store.conn.execute(
            "SELECT name, max_concurrent, created_at FROM job_projects ORDER BY name"
        ) as cur:
            return [ProjectRecord(**dict(r)) for r in await cur.fetchall()]
