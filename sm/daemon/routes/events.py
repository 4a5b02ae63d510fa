from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from sm.daemon.deps import ServicesDep

router = APIRouter(tags=["events"])


@router.get("/events")
async def list_events(
    svc: ServicesDep, session: str | None = None, after: int = 0, limit: int = 100,
    kind: str | None = None, newest: bool = False,
) -> dict[str, Any]:
    """Events with ``seq > after``, oldest first; ``next`` is the cursor to continue.
    ``newest`` gives the last ``limit`` events instead."""
    session_id = (await svc.sessions.resolve(session)).id if session else None
    limit = max(1, min(limit, 1000))
    kinds = tuple(kind.split(",")) if kind else ()
    rows = await svc.store.events.list(session_id=session_id, after=after, limit=limit,
                                       kinds=kinds, newest=newest)
    return {
        "items": [e.public() for e in rows],
        "next": rows[-1].seq if len(rows) == limit and not newest else None,
    }


@router.get("/events/stream")
async def stream_events(
    svc: ServicesDep, session: str | None = None, after: int | None = None,
) -> StreamingResponse:
    """Server-sent events: backfill from ``after`` (default: only new events), then
    live. Each event is ``{v, kind, session_id, ts, seq, payload}``."""
    session_id = (await svc.sessions.resolve(session)).id if session else None
    queue = svc.bus.subscribe()
    if after is None:
        latest = await svc.store.events.list(limit=1, newest=True)
        after = latest[-1].seq if latest else 0

    async def body() -> AsyncIterator[bytes]:
        last = after or 0
        try:
            while True:
                backlog = await svc.store.events.list(session_id=session_id, after=last,
                                                      limit=500)
                for ev in backlog:
                    last = ev.seq
                    yield _sse(ev.public())
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
