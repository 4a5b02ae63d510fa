"""The event bus: every fact is appended to the store, then published after its
transaction commits — to listeners (delivery, the Telegram bridge), awaited in order,
and to subscribers (the event stream's readers), never awaited.

A subscriber holds a bounded buffer. Publishing only offers an event to it: a reader
that falls behind loses the overflow (never the daemon's time), and its subscription
remembers which seqs it missed so the reader can fetch them from the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sm.store.events import EventRecord

Listener = Callable[[EventRecord], Awaitable[None]]

SUBSCRIBER_BUFFER = 1000  # events a reader may lag behind before it must resync


class Subscription:
    """One reader's bounded buffer of committed events. ``missed`` is the (first, last)
    seq range dropped since the reader last called ``take_missed``, or None."""

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[EventRecord] = asyncio.Queue(maxsize=maxsize)
        self.missed: tuple[int, int] | None = None
        self.dropped = 0

    def offer(self, event: EventRecord) -> None:
        """Buffer ``event``, or count it missed when the buffer is full. Never blocks."""
        if self.missed is None and not self._queue.full():
            self._queue.put_nowait(event)
            return
        lo, hi = self.missed or (event.seq, event.seq)
        self.missed = (min(lo, event.seq), max(hi, event.seq))
        self.dropped += 1
        if self._queue.empty():  # wake a reader parked in ``get`` so it sees the gap
            self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> EventRecord | None:
        """The next buffered event, or None after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def drain(self) -> list[EventRecord]:
        """Every event buffered now, without waiting."""
        out = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def take_missed(self) -> tuple[int, int] | None:
        """The seqs dropped since the last call (then forgotten); buffering resumes."""
        missed, self.missed = self.missed, None
        return missed


class EventBus:
    def __init__(self, subscriber_buffer: int = SUBSCRIBER_BUFFER) -> None:
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Listener] = []
        self._buffer = subscriber_buffer

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        """A new reader of every event published from now on."""
        sub = Subscription(maxsize or self._buffer)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` for every event, in order, after it is committed."""
        self._listeners.append(listener)

    async def publish(self, events: list[EventRecord]) -> None:
        for event in events:
            for sub in list(self._subscriptions):
                sub.offer(event)
            for listener in self._listeners:
                await listener(event)


def trim(payload: Any, limit: int = 65536) -> Any:
    """Cap very long strings inside a hook payload before it is logged."""
    if isinstance(payload, str) and len(payload) > limit:
        return payload[:limit] + f"…[{len(payload) - limit} more chars]"
    if isinstance(payload, dict):
        return {k: trim(v, limit) for k, v in payload.items()}
    if isinstance(payload, list):
        return [trim(v, limit) for v in payload]
    return payload
