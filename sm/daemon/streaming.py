"""The event stream as its readers see it, for every transport (the Unix socket's SSE
and WebSocket routes, the web dashboard's WebSocket): a snapshot, then the event flow
of ``core/stream.py``, each frame ``{v, kind, session_id, ts, seq, payload}``.

What a reader may see is the events operation's scope for its caller.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from sm.api.models import Ask, Lease, Session, SessionUsage, event_json
from sm.core.caller import Caller
from sm.core.stream import Missed, StreamFilter
from sm.errors import InvalidInput, Refused, SmError
from sm.vocab import StreamKind

if TYPE_CHECKING:
    from sm.daemon.services import Services

Frame = dict[str, Any]


def frame(kind: StreamKind, seq: int, payload: dict[str, Any],
          session_id: str | None = None) -> Frame:
    return {"v": 1, "kind": kind.value, "session_id": session_id, "ts": time.time(),
            "seq": seq, "payload": payload}


async def reader_filter(svc: Services, caller: Caller, session: str | None,
                        kind: str | None) -> StreamFilter:
    """The caller's scope narrowed to ``session`` and ``kind`` (a comma list). Raises
    NotFound for an unknown session, Refused for one the caller may not read."""
    scope = await svc.ops.events.scope(caller, session)
    ids = tuple(scope.session_ids) if scope.session_ids is not None else None
    return StreamFilter(scope.session_id, ids, tuple(k for k in (kind or "").split(",") if k))


async def snapshot(svc: Services, caller: Caller, want: StreamFilter) -> Frame:
    """The current picture as a ``snapshot`` frame whose ``seq`` is the last event it
    reflects: sessions (with their cost and context), queue depths, locks and open
    questions, as far as the caller may see them."""
    seq = await svc.stream.latest_seq()
    sessions = []
    after = None
    while True:
        page = await svc.ops.sessions.list(caller, after=after, limit=1000)
        sessions += page.items
        if page.next is None:
            break
        after = page.next
    visible = {s.id for s in sessions if _sees(want, s.id)}
    table = await svc.ops.locks.table(caller)
    try:
        asks = await svc.ops.asks.pending(caller)
    except Refused:
        asks = []  # questions are the operator's to see
    queues = await svc.store.messages.open_counts()
    spent = await svc.ops.usage.by_session(caller)
    nothing = SessionUsage(cost_micros=0, unpriced_models=[], context=None).model_dump()
    payload = {
        # each with its cost so far and its context (cost_micros, unpriced_models,
        # context), as ``usage`` events then update them
        "sessions": [{**Session.of(s).model_dump(),
                      **(SessionUsage.of(spent[s.id]).model_dump() if s.id in spent
                         else nothing)}
                     for s in sessions if s.id in visible],
        "queues": {k: v for k, v in queues.items() if k in visible},
        "locks": [Lease.of(h).model_dump() for h in table.items
                  if h.lease.session_id in visible],
        "asks": [Ask.of(a).model_dump() for a in asks
                 if a.session_id is None or a.session_id in visible],
    }
    return frame(StreamKind.SNAPSHOT, seq, payload, want.session_id)


def _sees(want: StreamFilter, session_id: str) -> bool:
    if want.session_id is not None:
        return session_id == want.session_id
    return want.session_ids is None or session_id in want.session_ids


async def frames(
    svc: Services, caller: Caller, want: StreamFilter, after: int | None, with_snapshot: bool,
) -> AsyncGenerator[Frame | None, None]:
    """A reader's frames: the snapshot (when asked), then events after ``after``
    (default: from now, or from the snapshot); ``None`` for a keep-alive."""
    if with_snapshot:
        snap = await snapshot(svc, caller, want)
        yield snap
        if after is None:
            after = snap["seq"]
    flow = svc.stream.follow(after, want)
    try:
        async for item in flow:
            if item is None:
                yield None
            elif isinstance(item, Missed):
                yield frame(StreamKind.RESYNC, item.after, {
                    "missed_from": item.first, "missed_to": item.last, "after": item.after,
                }, want.session_id)
            else:
                yield event_json(item)
    finally:
        await flow.aclose()


def last_event_id(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"Last-Event-ID {value!r}: expected a seq") from None


def sse(data: Frame) -> bytes:
    return f"id: {data['seq']}\ndata: {json.dumps(data)}\n\n".encode()


async def pump(
    websocket: WebSocket, svc: Services, caller: Caller, session: str | None,
    after: int | None, kind: str | None, with_snapshot: bool,
) -> None:
    """Send frames to an accepted WebSocket until it closes. A bad query closes it with
    code 1008 and the error as the reason."""
    try:
        want = await reader_filter(svc, caller, session, kind)
    except SmError as exc:
        await websocket.close(code=1008, reason=exc.message[:120])
        return
    items = frames(svc, caller, want, after, with_snapshot)
    try:
        async for item in items:
            if item is None:
                item = frame(StreamKind.KEEPALIVE, 0, {})
            await websocket.send_text(json.dumps(item))
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        await items.aclose()
