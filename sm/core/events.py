"""The event bus: every fact is appended to the store, then published to subscribers
(the SSE stream, delivery, the Telegram bridge) after its transaction commits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sm.store.events import EventRecord

Listener = Callable[[EventRecord], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[EventRecord]] = set()
        self._listeners: list[Listener] = []

    def subscribe(self) -> asyncio.Queue[EventRecord]:
        queue: asyncio.Queue[EventRecord] = asyncio.Queue(maxsize=10000)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[EventRecord]) -> None:
        self._queues.discard(queue)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` for every event, in order, after it is committed."""
        self._listeners.append(listener)

    async def publish(self, events: list[EventRecord]) -> None:
        for event in events:
            for queue in list(self._queues):
                if queue.full():
                    self._queues.discard(queue)  # a stalled reader resubscribes with backfill
                else:
                    queue.put_nowait(event)
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
