"""The event bus: every fact is appended to the store, then published after its
transaction commits — to stream subscribers (SSE, WebSocket, views) and to listeners
(delivery, waits, leases, Telegram …).

A subscriber holds a bounded buffer. Publishing only offers an event to it: a reader
that falls behind loses the overflow (never the daemon's time), and its subscription
remembers which seqs it missed so the reader can fetch them from the store.

Each listener has its own queue and task: it sees every event in commit order (only
those of the kinds it names, when it names them: the rest never wake its task), a
listener that raises is logged and goes on with the next event, and no listener holds
up the publisher or another listener. What must happen *with* a fact (a receipt, a
notice owed for a turn) is written in the fact's own transaction, never left to a
listener: a listener only reacts (wakes a worker, tells a waiter, posts to Telegram).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from sm.store.events import EventRecord

Listener = Callable[[EventRecord], Awaitable[None]]
log = logging.getLogger("sm.events")

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


class _Listening:
    def __init__(self, listener: Listener, name: str, kinds: frozenset[str] | None) -> None:
        self.listener = listener
        self.name = name
        self.kinds = kinds
        self.queue: asyncio.Queue[EventRecord] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.busy = False

    async def run(self) -> None:
        while True:
            event = await self.queue.get()
            self.busy = True
            try:
                await self.listener(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event listener %s failed on event %d (%s)",
                              self.name, event.seq, event.kind)
            finally:
                self.busy = False


class EventBus:
    def __init__(self, subscriber_buffer: int = SUBSCRIBER_BUFFER) -> None:
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[_Listening] = []
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

    def listen(self, listener: Listener, name: str = "",
               kinds: Collection[str] | None = None) -> None:
        """Call ``listener`` for every event published from now on (of ``kinds`` only,
        when given), in order, in a task of its own."""
        self._listeners.append(_Listening(listener, name or _name(listener),
                                          None if kinds is None else frozenset(kinds)))

    async def publish(self, events: list[EventRecord | None]) -> None:
        """Hand committed events on. Never waits for a listener."""
        for event in events:
            if event is None:
                continue
            for sub in list(self._subscriptions):
                sub.offer(event)
            for listening in self._listeners:
                if listening.kinds is not None and event.kind not in listening.kinds:
                    continue
                if listening.task is None:
                    listening.task = asyncio.create_task(listening.run(),
                                                         name=f"listener-{listening.name}")
                listening.queue.put_nowait(event)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every listener has handled every event published so far (for an
        orderly stop, and for tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(not lst.queue.empty() or lst.busy for lst in self._listeners):
            if loop.time() > deadline:
                return
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        tasks = [lst.task for lst in self._listeners if lst.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _name(listener: Any) -> str:
    owner = getattr(listener, "__self__", None)
    base = getattr(listener, "__name__", "listener")
    return f"{type(owner).__name__}.{base}" if owner is not None else base


def trim(payload: Any, limit: int = 65536) -> Any:
    """Cap very long strings inside a hook payload before it is logged."""
    if isinstance(payload, str) and len(payload) > limit:
        return payload[:limit] + f"…[{len(payload) - limit} more chars]"
    if isinstance(payload, dict):
        return {k: trim(v, limit) for k, v in payload.items()}
    if isinstance(payload, list):
        return [trim(v, limit) for v in payload]
    return payload
