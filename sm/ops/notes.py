"""Note operations: write, read, list, remove, watch.

Notes are a shared scratchpad: every session and the operator may read and write
every key; each write records who wrote it. A watch is answered within ``WATCH_SLICE``
seconds at most (with a cursor to resume from): the client asks again until its own
timeout, so a long watch never holds one request open for long.
"""

from __future__ import annotations

from dataclasses import dataclass

from sm.core.caller import Caller
from sm.core.notes import Notes, Watched
from sm.errors import InvalidInput
from sm.store.notes import NoteRecord

WATCH_SLICE = 30.0
MAX_PAGE = 1000


@dataclass(frozen=True)
class WriteNote:
    key: str
    value: str


@dataclass(frozen=True)
class ReadNote:
    key: str


@dataclass(frozen=True)
class RemoveNote:
    key: str


@dataclass(frozen=True)
class ListNotes:
    prefix: str = ""
    after: str = ""  # a key: the page starts after it
    limit: int = 100


@dataclass(frozen=True)
class WatchNotes:
    keys: tuple[str, ...] = ()
    prefix: str | None = None
    until: str | None = None
    after: int | None = None  # the cursor a previous slice returned
    timeout: float = WATCH_SLICE


@dataclass(frozen=True)
class NotePage:
    items: list[NoteRecord]
    next: str | None  # the ``after`` of the next page
    watching: int  # watches blocked right now


class NotesOps:
    def __init__(self, notes: Notes) -> None:
        self.notes = notes

    async def write(self, caller: Caller, req: WriteNote) -> NoteRecord:
        """Set the note (any caller). Raises InvalidInput for a bad key or value size."""
        return await self.notes.write(req.key, req.value, caller.id, caller.label)

    async def read(self, caller: Caller, req: ReadNote) -> NoteRecord:
        """Raises NotFound for a key never written (or removed)."""
        return await self.notes.read(req.key)

    async def remove(self, caller: Caller, req: RemoveNote) -> None:
        await self.notes.delete(req.key, caller.id, caller.label)

    async def list(self, caller: Caller, req: ListNotes) -> NotePage:
        if not 1 <= req.limit <= MAX_PAGE:
            raise InvalidInput(f"limit {req.limit}: expected 1…{MAX_PAGE}")
        rows = await self.notes.list(req.prefix, req.after, req.limit + 1)
        page = rows[: req.limit]
        return NotePage(page, page[-1].key if len(rows) > req.limit else None,
                        self.notes.watching)

    async def watch(self, caller: Caller, req: WatchNotes) -> Watched:
        """Block until a watched key is written (or holds ``until``), for at most
        ``min(timeout, WATCH_SLICE)`` seconds. Raises InvalidInput for a negative
        timeout or bad keys."""
        if req.timeout < 0:
            raise InvalidInput(f"timeout {req.timeout:g}: expected 0 or more seconds")
        return await self.notes.watch(req.keys, req.prefix, req.until, req.after,
                                      min(req.timeout, WATCH_SLICE))
