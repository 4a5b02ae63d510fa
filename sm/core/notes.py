"""Notes: a key/value scratchpad agents coordinate through.

Keys are namespaced with ``/`` (``build/status``, ``team-a/plan``): segments of
``A-Z a-z 0-9 _ . -``, each starting with a letter, digit or ``_``; at most
``MAX_KEY`` characters. Values are text of at most ``max_value_bytes``. Every write is
a row and an event of kind ``note`` (one transaction), published after commit.

A watch blocks until a watched key is written after it began (or, with ``until``,
until one holds that value — at once when it does already). It is woken by the
write's event, never by polling; it resumes from an event-seq cursor, so a watch
split over several requests misses no write in between.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sm.core.events import EventBus
from sm.errors import InvalidInput, NotFound
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.notes import NoteRecord
from sm.vocab import EventKind

MAX_KEY = 200
MAX_WATCHED = 100
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PREFIX = re.compile(rf"(?:{_SEGMENT}(?:/{_SEGMENT})*/?)?")
_EVENT_VALUE = 500  # characters of the value an event carries


def check_key(key: str) -> str:
    """Return ``key`` when valid; raise InvalidInput naming the rule otherwise."""
    if len(key) > MAX_KEY:
        raise InvalidInput(f"note key is {len(key)} characters; the limit is {MAX_KEY}")
    if not _KEY.fullmatch(key):
        raise InvalidInput(
            f"invalid note key {key!r}: expected segments of A-Z a-z 0-9 _ . - separated "
            "by '/', each starting with a letter, digit or _ (e.g. build/status)"
        )
    return key


def check_prefix(prefix: str) -> str:
    """A key prefix: a key, optionally ending in ``/``, or empty (every key)."""
    if len(prefix) > MAX_KEY or not _PREFIX.fullmatch(prefix):
        raise InvalidInput(f"invalid note key prefix {prefix!r}: expected a key, optionally "
                           "ending in '/' (e.g. build/)")
    return prefix


@dataclass(frozen=True)
class Watched:
    """How a watch ended: ``written`` (a watched key was written), ``matched`` (one
    holds the ``until`` value) or ``timeout``; ``seq`` is the cursor to resume from."""

    outcome: Literal["written", "matched", "timeout"]
    note: NoteRecord | None
    seq: int


class Notes:
    def __init__(
        self, store: Store, bus: EventBus, *, max_value_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.max_value_bytes = max_value_bytes
        self.clock = clock
        self._waiters: set[_Waiter] = set()
        bus.listen(self._on_event, kinds=(EventKind.NOTE,))

    @property
    def watching(self) -> int:
        """How many watches are blocked right now."""
        return len(self._waiters)

    async def write(
        self, key: str, value: str, written_by: str | None, writer: str
    ) -> NoteRecord:
        """Set ``key`` to ``value`` (one transaction with its event). Raises InvalidInput
        for a bad key or an oversized value."""
        check_key(key)
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > self.max_value_bytes:
            raise InvalidInput(f"note {key} is {size} bytes; the limit is "
                               f"{self.max_value_bytes} (notes.max_value_bytes)")
        now = self.clock()
        async with self.store.write() as conn:
            event = await self.store.events.append(conn, now, written_by, EventKind.NOTE, {
                "key": key, "action": "write", "writer": writer, "size": size,
                "value": value[:_EVENT_VALUE],
            })
            assert event is not None
            note = await self.store.notes.put(conn, key, value, event.seq, written_by, writer,
                                              now)
        await self.bus.publish([event])
        return note

    async def delete(self, key: str, written_by: str | None, writer: str) -> None:
        """Remove ``key``. Raises NotFound when there is no such note."""
        check_key(key)
        now = self.clock()
        async with self.store.write() as conn:
            if not await self.store.notes.delete(conn, key):
                raise NotFound(f"no note {key!r}")
            event = await self.store.events.append(conn, now, written_by, EventKind.NOTE,
                                                   {"key": key, "action": "delete",
                                                    "writer": writer})
        await self.bus.publish([event] if event else [])

    async def read(self, key: str) -> NoteRecord:
        check_key(key)
        note = await self.store.notes.get(key)
        if note is None:
            raise NotFound(f"no note {key!r}")
        return note

    async def list(self, prefix: str = "", after: str = "", limit: int = 1000
                   ) -> builtins.list[NoteRecord]:
        return await self.store.notes.list(check_prefix(prefix), after, limit)

    async def watch(
        self, keys: Sequence[str] = (), prefix: str | None = None, until: str | None = None,
        after: int | None = None, timeout: float = 30.0,
    ) -> Watched:
        """Block until a watched key is written after event ``after`` (default: now),
        or holds ``until``, for at most ``timeout`` seconds. Changes nothing. Raises
        InvalidInput without keys and prefix, with both, or for bad ones."""
        keys = [check_key(k) for k in dict.fromkeys(keys)]
        if bool(keys) == (prefix is not None):
            raise InvalidInput("watch KEYS… or --prefix PREFIX (one of the two)")
        if len(keys) > MAX_WATCHED:
            raise InvalidInput(f"{len(keys)} keys to watch; the limit is {MAX_WATCHED}")
        if prefix is not None:
            check_prefix(prefix)
        cursor = await self.store.notes.last_seq() if after is None else after
        deadline = self.clock() + max(0.0, timeout)
        waiter = _Waiter(frozenset(keys), prefix)
        self._waiters.add(waiter)
        try:
            while True:
                waiter.changed.clear()
                found = await self._check(keys, prefix, until, cursor)
                if found is not None:
                    return found
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return Watched("timeout", None, cursor)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.changed.wait(), remaining)
        finally:
            self._waiters.discard(waiter)

    async def _check(
        self, keys: builtins.list[str], prefix: str | None, until: str | None, cursor: int
    ) -> Watched | None:
        if until is not None:
            current = await (self.store.notes.list(prefix) if prefix is not None
                             else self.store.notes.many(keys))
            for note in sorted(current, key=lambda n: n.seq):
                if note.value == until:
                    return Watched("matched", note, max(cursor, note.seq))
            return None
        written = await self.store.notes.written_after(cursor, keys, prefix)
        if written:
            return Watched("written", written[0], written[0].seq)
        return None

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.kind != EventKind.NOTE or ev.payload.get("action") != "write":
            return
        key = str(ev.payload.get("key", ""))
        for waiter in self._waiters:
            if waiter.wants(key):
                waiter.changed.set()


class _Waiter:
    def __init__(self, keys: frozenset[str], prefix: str | None) -> None:
        self.keys = keys
        self.prefix = prefix
        self.changed = asyncio.Event()

    def wants(self, key: str) -> bool:
        return key in self.keys if self.prefix is None else key.startswith(self.prefix)
