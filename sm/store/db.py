"""The Store: an aiosqlite connection in WAL mode, migrated on open.

Writes go through ``Store.write()``, which serialises transactions across coroutines
(one connection is shared by the whole daemon) and commits or rolls back as a unit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from sm.errors import Unavailable
from sm.store.migrations import MIGRATIONS


class Store:
    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()
        from sm.store.events import Events
        from sm.store.git import Git
        from sm.store.job_templates import JobTemplates
        from sm.store.jobs import Jobs
        from sm.store.kb import Kb
        from sm.store.locks import Locks
        from sm.store.messages import Messages
        from sm.store.notes import Notes
        from sm.store.reminders import Reminders
        from sm.store.sessions import Sessions
        from sm.store.watchers import Watchers

        self.sessions = Sessions(self)
        self.events = Events(self)
        self.messages = Messages(self)
        self.reminders = Reminders(self)
        self.watchers = Watchers(self)
        self.locks = Locks(self)
        self.git = Git(self)
        self.notes = Notes(self)
        self.kb = Kb(self)
        self.jobs = Jobs(self)
        self.job_templates = JobTemplates(self)

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Open (creating if needed) and migrate the database. Raises Unavailable when
        the file cannot be opened or is not an sm database."""
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open the store {path}: {exc}") from exc
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            store = cls(conn, path)
            await store.migrate()
        except BaseException as exc:
            await conn.close()  # its thread would otherwise keep the process alive
            if isinstance(exc, sqlite3.Error):
                raise Unavailable(f"cannot open the store {path}: {exc}") from exc
            raise
        return store

    async def close(self) -> None:
        await self.conn.close()

    async def version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self, target: int | None = None) -> int:
        """Apply every migration above the file's version (up to ``target``), each in
        its own transaction. Returns the version reached."""
        current = await self.version()
        goal = len(MIGRATIONS) if target is None else target
        if current > len(MIGRATIONS):
            raise Unavailable(
                f"{self.path} has schema version {current}, newer than this sm "
                f"({len(MIGRATIONS)}); upgrade sm"
            )
        for number in range(current + 1, goal + 1):
            script = MIGRATIONS[number - 1]
            await self.conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )
        return max(current, goal)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction. Other coroutines' writes wait for it."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")
