"""The event log, a page at a time (the live stream: ``routes/stream.py``)."""

from __future__ import annotations

from fastapi import APIRouter

from sm.api.models import Event, EventPage
from sm.daemon.deps import CallerDep, OpsDep

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
