"""The event log: a page of it, or a live stream (server-sent events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from sm.api.models import Event, EventPage, event_json
from sm.daemon.deps import CallerDep, OpsDep, ServicesDep

router = APIRouter(tags=["events"])


@router.get("/events", response_model=EventPage)
async def list_events(
    ops: OpsDep, caller: CallerDep, session: str | None = None, after: int = 0,
    limit: int = 100, kind: str | None = None, newest: bool = False,
) -> EventPage:
    """Events with ``seq > after``, oldest first; ``next`` is the cursor to continue.
    ``newest`` gives the last ``limit`` events instead."""
    page = await ops.events.list(caller, session=session, after=after, limit=limit,
                                 kinds=tuple(kind.split(",")) if kind else (), newest=newest)
    return EventPage(items=[Event.of(e) for e in page.items], next=page.next)


@router.get("/events/stream")
async def stream_events(
    svc: ServicesDep, ops: OpsDep, caller: CallerDep, session: str | None = None,
    after: int | None = None,
) -> StreamingResponse:
    """Server-sent events: backfill from ``after`` (default: only new events), then
    live. Each event is ``{v, kind, session_id, ts, seq, payload}``."""
    scope = await ops.events.scope(caller, session)
    queue = svc.bus.subscribe()
    if after is None:
        latest = await svc.store.events.list(limit=1, newest=True)
        after = latest[-1].seq if latest else 0

    async def body() -> AsyncIterator[bytes]:
        last = after or 0
        try:
            while True:
                backlog = await svc.store.events.list(
                    session_id=scope.session_id, session_ids=scope.session_ids, after=last,
                    limit=500)
                for ev in backlog:
                    last = ev.seq
                    yield _sse(event_json(ev))
                if len(backlog) == 500:
                    continue
                try:
                    await asyncio.wait_for(queue.get(), timeout=15.0)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                while not queue.empty():
                    queue.get_nowait()
        finally:
            svc.bus.unsubscribe(queue)

    return StreamingResponse(body(), media_type="text/event-stream")


def _sse(data: dict[str, Any]) -> bytes:
    return f"id: {data['seq']}\ndata: {json.dumps(data)}\n\n".encode()
