"""The event flow one reader sees: backfill from any seq, then live events, in seq order
with no gap and no duplicate.

The store is the source of truth. Live events come from the bus while they arrive in
order; after a hole (events published out of commit order) or an overflow of the
reader's bounded buffer, the reader catches up from the store. A reader that fell
behind is first told which seqs it missed (``Missed``) — the daemon never waits for
it. The adapters put a snapshot in front and serialise (``sm/daemon/streaming.py``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from sm.core.events import EventBus
from sm.store import Store
from sm.store.events import EventRecord


@dataclass(frozen=True)
class StreamFilter:
    """Which events a reader wants: one session's, some sessions' (``session_ids``;
    None: all), and these kinds (empty: all)."""

    session_id: str | None = None
    session_ids: tuple[str, ...] | None = None
    kinds: tuple[str, ...] = ()

    def matches(self, event: EventRecord) -> bool:
        if self.session_id is not None and event.session_id != self.session_id:
            return False
        if self.session_ids is not None and event.session_id not in self.session_ids:
            return False
        return not self.kinds or event.kind in self.kinds


@dataclass(frozen=True)
class Missed:
    """The reader fell behind: seqs ``first``…``last`` were dropped from its buffer and
    follow again from the store, after ``after`` (the last seq it was given)."""

    first: int
    last: int
    after: int


Item = EventRecord | Missed | None  # None: nothing happened for ``keepalive`` seconds


class EventStream:
    def __init__(
        self, store: Store, bus: EventBus, *, page: int = 500, keepalive: float = 15.0,
    ) -> None:
        self.store = store
        self.bus = bus
        self.page = page
        self.keepalive = keepalive

    async def latest_seq(self) -> int:
        rows = await self.store.events.list(limit=1, newest=True)
        return rows[-1].seq if rows else 0

    async def follow(
        self, after: int | None = None, filter: StreamFilter | None = None,
    ) -> AsyncGenerator[Item, None]:
        """Every event with ``seq > after`` (default: from now) that ``filter`` lets
        through, then live ones, until the reader stops iterating. Costs one indexed
        read per catch-up; the publisher never waits for this reader."""
        want = filter or StreamFilter()
        sub = self.bus.subscribe()
        try:
            if after is None:
                after = await self.latest_seq()
            last = seen = after
            async for event in self._catch_up(last, want):
                last = event.seq
                yield event
            seen = max(seen, last)
            while True:
                first = await sub.get(self.keepalive)
                if first is None:
                    yield None
                    continue
                batch = sorted([first, *sub.drain()], key=lambda e: e.seq)
                missed = sub.take_missed()
                fresh = [e for e in batch if e.seq > seen]
                if missed is not None:
                    yield Missed(missed[0], missed[1], last)
                if missed is not None or not _contiguous(seen, fresh):
                    async for event in self._catch_up(last, want):
                        last = event.seq
                        yield event
                    seen = max(seen, last, batch[-1].seq)
                    continue
                for event in fresh:
                    seen = event.seq
                    if want.matches(event):
                        last = event.seq
                        yield event
        finally:
            self.bus.unsubscribe(sub)

    async def _catch_up(self, after: int, want: StreamFilter) -> AsyncIterator[EventRecord]:
        ids = list(want.session_ids) if want.session_ids is not None else None
        while True:
            rows = await self.store.events.list(
                session_id=want.session_id, session_ids=ids, after=after, limit=self.page,
                kinds=want.kinds)
            for row in rows:
                yield row
            if len(rows) < self.page:
                return
            after = rows[-1].seq


def _contiguous(seen: int, fresh: list[EventRecord]) -> bool:
    """Whether ``fresh`` (sorted) follows ``seen`` with no hole: nothing committed in
    between can have been skipped."""
    expect = seen + 1
    for event in fresh:
        if event.seq != expect:
            return False
        expect += 1
    return True
