"""What the dashboard's pages read: one operation each (as the operator, via web), in
the wire shapes of ``sm/api/models.py``. The live parts come from the event stream."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sm.api.models import Event, Lease, Message, Session, SessionUsage, SessionWorktreeOut
from sm.errors import InvalidInput
from sm.web.actions import WEB

if TYPE_CHECKING:
    from sm.ops import Ops


def _messages(rows: list[Any]) -> list[dict[str, Any]]:
    return [Message.of(m, full=False).model_dump(by_alias=True) for m in rows]


async def session(ops: Ops, ref: str) -> dict[str, Any]:
    """One session: its record, messages to and from it, recent events, tool actions,
    locks, worktree/branch/PR and children."""
    rec = await ops.sessions.get(WEB, ref)
    spent = (await ops.usage.by_session(WEB)).get(rec.id)
    to = await ops.messages.list(WEB, to=rec.id, limit=100)
    sent = await ops.messages.list(WEB, sender=rec.id, limit=100)
    events = await ops.events.list(WEB, session=rec.id, limit=200, newest=True)
    children = await ops.sessions.list(WEB, parent=rec.id)
    table = await ops.locks.table(WEB, session=rec.id)
    return {
        # with its cost so far and its context (usage events update them on the page)
        "session": {**Session.of(rec).model_dump(),
                    **(SessionUsage.of(spent).model_dump() if spent is not None else {})},
        "messages": _messages(sorted([*to, *sent], key=lambda m: m.created_at)),
        "events": [Event.of(e).model_dump() for e in events.items],
        "actions": await ops.sessions.tail(WEB, rec.id, 50),
        "locks": [Lease.of(h).model_dump() for h in table.items],
        **SessionWorktreeOut.of(await ops.git.session_worktree(WEB, rec.id)).model_dump(),
        "children": [Session.of(c).model_dump() for c in children.items],
    }


async def messages(ops: Ops, limit: int = 200, state: str = "") -> dict[str, Any]:
    """The newest messages with their state and reason."""
    states = [s for s in state.split(",") if s]
    return {"items": _messages(await ops.messages.list(WEB, states=states, limit=limit))}


async def events(
    ops: Ops, q: str = "", before: int | None = None, limit: int = 200,
    session: str = "", kind: str = "",
) -> dict[str, Any]:
    """A page of the timeline, newest first, optionally only events whose JSON contains
    ``q`` (case-insensitive); ``before`` pages back."""
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, not {limit}")
    kinds = tuple(k for k in kind.split(",") if k)
    needle = q.lower()
    out: list[dict[str, Any]] = []
    cursor = before
    scanned = 0
    while len(out) < limit and scanned < 20000:
        page = await ops.events.list(WEB, session=session or None, kinds=kinds, limit=500,
                                     newest=True, before=cursor)
        rows = page.items
        if not rows:
            break
        scanned += len(rows)
        for ev in reversed(rows):
            data = Event.of(ev).model_dump()
            if not needle or needle in json.dumps(data).lower():
                out.append(data)
                if len(out) >= limit:
                    break
        cursor = rows[0].seq
    return {"items": out, "next": out[-1]["seq"] if len(out) >= limit else None}


async def locks(ops: Ops) -> dict[str, Any]:
    table = await ops.locks.table(WEB)
    return {"items": [Lease.of(h).model_dump() for h in table.items],
            "waiting": table.waiting}


async def worktrees(ops: Ops) -> dict[str, Any]:
    return {"items": await ops.git.list_worktrees(WEB)}
