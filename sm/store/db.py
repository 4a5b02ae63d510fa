"""The Store: an aiosqlite connection in WAL mode, migrated on open.

Writes go through ``Store.write()``, which serialises transactions across coroutines
(one connection is shared by the whole daemon) and commits or rolls back as a unit.
A write the disk (or ``max_bytes``) has no room for rolls back whole and raises
StorageFull: nothing it was part of is half-written, and later writes succeed again
once there is room.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from sm.errors import StorageFull, Unavailable
from sm.store.migrations import MIGRATIONS


class Store:
    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = _WriteLock()
        from sm.store.asks import Asks
        from sm.store.budgets import Budgets
        from sm.store.events import Events
        from sm.store.git import Git
        from sm.store.inbox import Inbox
        from sm.store.job_templates import JobTemplates
        from sm.store.jobs import Jobs
        from sm.store.kb import Kb
        from sm.store.locks import Locks
        from sm.store.messages import Messages
        from sm.store.notes import Notes
        from sm.store.reminders import Reminders
        from sm.store.sessions import Sessions
        from sm.store.usage import Usage
        from sm.store.watchers import Watchers

        self.sessions = Sessions(self)
        self.events = Events(self)
        self.messages = Messages(self)
        self.reminders = Reminders(self)
        self.watchers = Watchers(self)
        self.locks = Locks(self)
        self.git = Git(self)
        self.asks = Asks(self)
        self.usage = Usage(self)
        self.budgets = Budgets(self)
        self.inbox = Inbox(self)
        self.notes = Notes(self)
        self.kb = Kb(self)
        self.jobs = Jobs(self)
        self.job_templates = JobTemplates(self)

    @classmethod
    async def open(cls, path: Path, max_bytes: int = 0) -> Store:
        """Open (creating if needed) and migrate the database. ``max_bytes`` (0: none)
        caps the file's size: past it writes raise StorageFull, as on a full disk.
        Raises Unavailable when the file cannot be opened or is not an sm database."""
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
            if max_bytes > 0:
                async with conn.execute("PRAGMA page_size") as cur:
                    row = await cur.fetchone()
                pages = max(1, max_bytes // int(row[0] if row else 4096))
                # SQLite never sets it below the file's current size
                await conn.execute(f"PRAGMA max_page_count = {pages}")
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
    async def write(self, first: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction. Other coroutines' writes wait for it. ``first``: go
        ahead of the waiting writers that did not ask to (short transactions a caller
        waits on, such as accepting messages, behind a busy delivery engine). Raises
        StorageFull (the transaction rolled back) when the disk or the size cap is full."""
        await self._write_lock.acquire(first)
        try:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                    await self.conn.execute("COMMIT")
                except BaseException:
                    # SQLite may already have rolled back on its own (a full disk does)
                    with contextlib.suppress(sqlite3.OperationalError):
                        await self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if _is_full(exc):
                    raise StorageFull(f"the store {self.path} is full: {exc}; free disk "
                                      "space (or raise limits.max_db_bytes)") from exc
                raise
        finally:
            self._write_lock.release()


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class _WriteLock:
    """An asyncio lock that serves ``first`` waiters before the others, each in order."""

    def __init__(self) -> None:
        self._held = False
        self._first: deque[asyncio.Future[None]] = deque()
        self._rest: deque[asyncio.Future[None]] = deque()

    async def acquire(self, first: bool) -> None:
        if not self._held and not self._first and not self._rest:
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._first if first else self._rest).append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed the lock while being cancelled: pass it on
            raise

    def release(self) -> None:
        for queue in (self._first, self._rest):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # the lock passes straight to this waiter
                    return
        self._held = False
