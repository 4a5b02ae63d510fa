"""What the dashboard's pages read: plain dicts from the store and the services, the
same data the Unix-socket routes return. Reads only; the live parts come from the
event stream."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sm.errors import InvalidInput

if TYPE_CHECKING:
    from sm.daemon.services import Services


async def session(svc: Services, ref: str) -> dict[str, Any]:
    """One session: its record, messages to and from it, recent events, tool actions,
    locks, worktree/branch/PR and children."""
    rec = await svc.sessions.resolve(ref)
    to = await svc.store.messages.list(target_id=rec.id, limit=10000)
    sent = await svc.store.messages.list(sender_id=rec.id, limit=10000)
    messages = sorted([*to[-100:], *sent[-100:]], key=lambda m: m.created_at)
    events = await svc.store.events.list(session_id=rec.id, limit=200, newest=True)
    wt = await svc.store.git.worktree(rec.id)
    pr = await svc.store.git.pr(rec.id)
    children = await svc.store.sessions.list(parent_id=rec.id)
    return {
        "session": rec.public(),
        "messages": [m.public(full=False) for m in messages],
        "events": [e.public() for e in events],
        "actions": await svc.sessions.tail(rec.id, 50),
        "locks": [lease.public(rec.label) for lease in svc.leases.leases(rec.id)],
        "worktree": await svc.worktrees.describe(wt) if wt else None,
        "pr": pr.public() if pr else None,
        "children": [c.public() for c in children],
        "queue": len(await svc.store.messages.open_for(rec.id)),
    }


async def messages(svc: Services, limit: int = 200, state: str = "") -> dict[str, Any]:
    """The newest messages with their state and reason."""
    states = tuple(s for s in state.split(",") if s)
    rows = await svc.store.messages.list(states=states, limit=100000)
    return {"items": [m.public(full=False) for m in rows[-max(1, min(limit, 1000)):]]}


async def events(
    svc: Services, q: str = "", before: int | None = None, limit: int = 200,
    session: str = "", kind: str = "",
) -> dict[str, Any]:
    """A page of the timeline, newest first, optionally only events whose JSON contains
    ``q`` (case-insensitive). ``before`` pages back."""
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, not {limit}")
    session_id = (await svc.sessions.resolve(session)).id if session else None
    kinds = tuple(k for k in kind.split(",") if k)
    needle = q.lower()
    out: list[dict[str, Any]] = []
    cursor = before
    scanned = 0
    while len(out) < limit and scanned < 20000:
        rows = await svc.store.events.list(session_id=session_id, kinds=kinds, limit=500,
                                           newest=True, before=cursor)
        if not rows:
            break
        scanned += len(rows)
        for ev in reversed(rows):
            data = ev.public()
            if not needle or needle in json.dumps(data).lower():
                out.append(data)
                if len(out) >= limit:
                    break
        cursor = rows[0].seq
    return {"items": out, "next": out[-1]["seq"] if len(out) >= limit else None}


async def locks(svc: Services) -> dict[str, Any]:
    leases = svc.leases.leases()
    labels = await svc.leases.labels(lease.session_id for lease in leases)
    waiting = svc.leases.waiting()
    who = await svc.leases.labels(w["session_id"] for w in waiting)
    return {"items": [lease.public(labels[lease.session_id]) for lease in leases],
            "waiting": [{**w, "holder": who[w["session_id"]]} for w in waiting]}


async def worktrees(svc: Services) -> dict[str, Any]:
    return {"items": await svc.worktrees.list()}
