"""The event stream over SSE (``GET /events/stream``) and WebSocket (``/events/ws``):
the same frames, from ``core/stream.py``. Query: ``after`` (or the ``Last-Event-ID``
header), ``session``, ``kind`` (a comma list), ``snapshot``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from sm.core.stream import EventStream, StreamFilter, frame
from sm.daemon.deps import ServicesDep
from sm.daemon.services import Services
from sm.errors import InvalidInput, SmError
from sm.vocab import StreamKind

router = APIRouter(tags=["events"])


async def stream_args(
    svc: Services, session: str | None, kind: str | None, after: int | None,
    last_event_id: str | None,
) -> tuple[StreamFilter, int | None]:
    """The reader's filter and starting seq. Raises NotFound for an unknown session and
    InvalidInput for a Last-Event-ID that is not a seq."""
    session_id = (await svc.sessions.resolve(session)).id if session else None
    kinds = tuple(k for k in (kind or "").split(",") if k)
    if after is None and last_event_id:
        try:
            after = int(last_event_id)
        except ValueError:
            raise InvalidInput(f"Last-Event-ID {last_event_id!r}: expected a seq") from None
    return StreamFilter(session_id, kinds), after


@router.get("/events/stream")
async def stream_events(
    request: Request, svc: ServicesDep, session: str | None = None, after: int | None = None,
    kind: str | None = None, snapshot: bool = False,
) -> StreamingResponse:
    """Server-sent events: a snapshot (with ``snapshot=1``), backfill from ``after``
    (default: from now), then live. Each frame is ``{v, kind, session_id, ts, seq,
    payload}`` with ``id:`` its seq; ``resync`` frames tell a reader that fell behind."""
    want, start = await stream_args(svc, session, kind, after,
                                    request.headers.get("last-event-id"))
    frames = svc.stream.follow(start, want, snapshot)

    async def body() -> AsyncIterator[bytes]:
        yield b": stream\n\n"  # headers and a first byte at once: the reader knows we're up
        try:
            async for item in frames:
                yield b": keep-alive\n\n" if item is None else sse(item)
        finally:
            await frames.aclose()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


@router.get("/events/snapshot")
async def snapshot(svc: ServicesDep, session: str | None = None) -> dict[str, Any]:
    """The snapshot frame alone: sessions, queue depths, locks, open questions, and the
    seq it reflects (follow the stream from there)."""
    session_id = (await svc.sessions.resolve(session)).id if session else None
    return await svc.stream.snapshot(session_id)


@router.websocket("/events/ws")
async def stream_ws(
    websocket: WebSocket, session: str | None = None, after: int | None = None,
    kind: str | None = None, snapshot: bool = False,
) -> None:
    """The same frames as ``/events/stream``, one JSON text message each."""
    svc: Services = websocket.app.state.services
    await websocket.accept()
    await pump(websocket, svc.stream, svc, session, after, kind, snapshot)


async def pump(
    websocket: WebSocket, stream: EventStream, svc: Services, session: str | None,
    after: int | None, kind: str | None, snapshot: bool,
) -> None:
    """Send frames to an accepted WebSocket until it closes. A bad query closes it with
    code 1008 and the error as the reason."""
    try:
        want, start = await stream_args(svc, session, kind, after, None)
    except SmError as exc:
        await websocket.close(code=1008, reason=exc.message[:120])
        return
    frames = stream.follow(start, want, snapshot)
    try:
        async for item in frames:
            if item is None:
                item = frame(StreamKind.KEEPALIVE, 0, {}, time.time())
            await websocket.send_text(json.dumps(item))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        await frames.aclose()


def sse(data: dict[str, Any]) -> bytes:
    return f"id: {data['seq']}\ndata: {json.dumps(data)}\n\n".encode()
