"""The event stream over SSE (``GET /events/stream``) and WebSocket (``/events/ws``):
the same frames (``sm/daemon/streaming.py``). Query: ``after`` (or the
``Last-Event-ID`` header), ``session``, ``kind`` (a comma list), ``snapshot``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import StreamingResponse

from sm.daemon import streaming
from sm.daemon.deps import CallerDep, ServicesDep
from sm.daemon.peer import PEER_PID
from sm.daemon.services import Services

router = APIRouter(tags=["events"])


@router.get("/events/stream")
async def stream_events(
    request: Request, svc: ServicesDep, caller: CallerDep, session: str | None = None,
    after: int | None = None, kind: str | None = None, snapshot: bool = False,
) -> StreamingResponse:
    """Server-sent events: a snapshot (with ``snapshot=1``), backfill from ``after``
    (default: from now), then live; the events the caller may read. Each frame is
    ``{v, kind, session_id, ts, seq, payload}`` with ``id:`` its seq; a ``resync`` frame
    tells a reader that fell behind which seqs follow again."""
    want = await streaming.reader_filter(svc, caller, session, kind)
    if after is None:
        after = streaming.last_event_id(request.headers.get("last-event-id"))
    items = streaming.frames(svc, caller, want, after, snapshot)

    async def body() -> AsyncIterator[bytes]:
        yield b": stream\n\n"  # headers and a first byte at once: the reader knows we're up
        try:
            async for item in items:
                yield b": keep-alive\n\n" if item is None else streaming.sse(item)
        finally:
            await items.aclose()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


@router.get("/events/snapshot")
async def snapshot(svc: ServicesDep, caller: CallerDep,
                   session: str | None = None) -> dict[str, Any]:
    """The snapshot frame alone: sessions, queue depths, locks, open questions, and the
    seq it reflects (follow the stream from there)."""
    want = await streaming.reader_filter(svc, caller, session, None)
    return await streaming.snapshot(svc, caller, want)


@router.websocket("/events/ws")
async def stream_ws(
    websocket: WebSocket, session: str | None = None, after: int | None = None,
    kind: str | None = None, snapshot: bool = False,
) -> None:
    """The same frames as ``/events/stream``, one JSON text message each."""
    svc: Services = websocket.app.state.services
    auth = websocket.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else ""
    caller = await svc.identity.authenticate(websocket.scope.get(PEER_PID), token,
                                             websocket.headers.get("x-sm-session", ""))
    await websocket.accept()
    await streaming.pump(websocket, svc, caller, session, after, kind, snapshot)
