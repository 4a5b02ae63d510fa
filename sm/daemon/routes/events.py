from __future__ import annotations

from typing import Any

from fastapi import APIRouter

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
