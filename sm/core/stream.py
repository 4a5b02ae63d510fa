"""The event stream one reader sees: an optional snapshot, backfill from any seq, then
live events, in seq order with no gap and no duplicate.

Every frame has the event envelope ``{v, kind, session_id, ts, seq, payload}``. The
store is the source of truth: live events come from the bus while they arrive in
order; after a hole (events published out of commit order) or an overflow of the
reader's bounded buffer, the reader catches up from the store. A reader that fell
behind first gets a ``resync`` frame naming the seqs it missed — the daemon never
waits for it. Transports (SSE, WebSocket) only serialise what ``follow`` yields.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sm.core.events import EventBus
from sm.core.leases import Leases
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.telegram import AskRecord, TelegramRows
from sm.vocab import StreamKind

KEEPALIVE = None  # what ``follow`` yields after ``keepalive`` seconds without a frame


@dataclass(frozen=True)
class StreamFilter:
    """Which events a reader wants: one session's (None: all) and these kinds (empty: all)."""

    session_id: str | None = None
    kinds: tuple[str, ...] = ()

    def matches(self, event: EventRecord) -> bool:
        return (self.session_id is None or event.session_id == self.session_id) and (
            not self.kinds or event.kind in self.kinds)


class EventStream:
    def __init__(
        self, store: Store, bus: EventBus, leases: Leases, *, page: int = 500,
        keepalive: float = 15.0, clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.leases = leases
        self.page = page
        self.keepalive = keepalive
        self.clock = clock
        self._asks = TelegramRows(store)

    async def latest_seq(self) -> int:
        rows = await self.store.events.list(limit=1, newest=True)
        return rows[-1].seq if rows else 0

    async def snapshot(self, session_id: str | None = None) -> dict[str, Any]:
        """The current picture as a ``snapshot`` frame whose ``seq`` is the last event
        it reflects: sessions, queue depths, locks and open questions. A read of three
        tables and the lease map; no tmux."""
        seq = await self.latest_seq()
        sessions = []
        after = None
        while True:
            rows = await self.store.sessions.list(after=after, limit=1000)
            sessions += [r.public() for r in rows]
            if len(rows) < 1000:
                break
            after = rows[-1].id
        if session_id is not None:
            sessions = [s for s in sessions if s["id"] == session_id]
        labels = {s["id"]: s["name"] or s["id"] for s in sessions}
        leases = self.leases.leases(session_id)
        asks = [_ask(a) for a in await self._asks.pending_asks()
                if session_id is None or a.session_id == session_id]
        payload = {
            "sessions": sessions,
            "queues": await self.store.messages.open_counts(),
            "locks": [lease.public(labels.get(lease.session_id)) for lease in leases],
            "asks": asks,
        }
        return frame(StreamKind.SNAPSHOT, seq, payload, self.clock(), session_id)

    async def follow(
        self, after: int | None = None, filter: StreamFilter | None = None,
        snapshot: bool = False,
    ) -> AsyncIterator[dict[str, Any] | None]:
        """Frames for one reader until it stops iterating: the snapshot (when asked),
        every event with ``seq > after`` (default: from now, or from the snapshot), then
        live ones; ``None`` after ``keepalive`` idle seconds. Costs one indexed read per
        catch-up; nothing is ever awaited on the reader's behalf by the publisher."""
        want = filter or StreamFilter()
        sub = self.bus.subscribe()
        try:
            if snapshot:
                snap = await self.snapshot(want.session_id)
                yield snap
                if after is None:
                    after = snap["seq"]
            if after is None:
                after = await self.latest_seq()
            last = seen = after
            async for item in self._catch_up(last, want):
                last = item.seq
                yield item.public()
            seen = max(seen, last)
            while True:
                first = await sub.get(self.keepalive)
                if first is None:
                    yield KEEPALIVE
                    continue
                batch = sorted([first, *sub.drain()], key=lambda e: e.seq)
                missed = sub.take_missed()
                fresh = [e for e in batch if e.seq > seen]
                if missed is not None:
                    yield frame(StreamKind.RESYNC, last, {
                        "missed_from": missed[0], "missed_to": missed[1], "after": last,
                    }, self.clock(), want.session_id)
                if missed is not None or not _contiguous(seen, fresh):
                    async for item in self._catch_up(last, want):
                        last = item.seq
                        yield item.public()
                    seen = max(seen, last, batch[-1].seq)
                    continue
                for event in fresh:
                    seen = event.seq
                    if want.matches(event):
                        last = event.seq
                        yield event.public()
        finally:
            self.bus.unsubscribe(sub)

    async def _catch_up(self, after: int, want: StreamFilter) -> AsyncIterator[EventRecord]:
        while True:
            rows = await self.store.events.list(
                session_id=want.session_id, after=after, limit=self.page, kinds=want.kinds)
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


def frame(
    kind: StreamKind, seq: int, payload: dict[str, Any], ts: float,
    session_id: str | None = None,
) -> dict[str, Any]:
    return {"v": 1, "kind": kind.value, "session_id": session_id, "ts": ts, "seq": seq,
            "payload": payload}


def _ask(a: AskRecord) -> dict[str, Any]:
    return {"id": a.id, "session_id": a.session_id, "question": a.question,
            "choices": a.choices, "deadline": a.deadline, "created_at": a.created_at}
