"""Reading the event log: a page of it, or the scope a live stream may show."""

from __future__ import annotations

from dataclasses import dataclass

from sm.core import refs
from sm.core.caller import Caller
from sm.ops.authz import Authz
from sm.store import Store
from sm.store.events import EventRecord

MAX_PAGE = 1000
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class Scope:
    """Which events a reader may see: one session's, some sessions', or all (None)."""

    session_id: str | None
    session_ids: list[str] | None


@dataclass(frozen=True)
class EventPage:
    items: list[EventRecord]
    next: int | None


class EventOps:
    def __init__(self, store: Store, authz: Authz) -> None:
        self.store = store
        self.authz = authz

    async def scope(self, caller: Caller, session: str | None = None) -> Scope:
        """The events ``caller`` may read, narrowed to ``session``. Raises Refused when
        the caller may not read that session's events."""
        visible = await self.authz.visible(caller)
        if session:
            rec = await refs.session(self.store, session)
            await self.authz.check_read(caller, rec, "events")
            return Scope(rec.id, None)
        return Scope(None, visible)

    async def list(
        self, caller: Caller, *, session: str | None = None, after: int = 0, limit: int = 100,
        kinds: tuple[str, ...] = (), newest: bool = False, before: int | None = None,
    ) -> EventPage:
        """Events with ``seq > after`` (and ``< before``), oldest first; ``next`` is the
        cursor to go on from. ``newest``: the last ``limit`` events instead."""
        scope = await self.scope(caller, session)
        limit = max(1, min(limit, MAX_PAGE))
        rows = await self.store.events.list(
            session_id=scope.session_id, session_ids=scope.session_ids,
            after=max(0, min(after, MAX_SEQ)), limit=limit, kinds=kinds, newest=newest,
            before=before)
        return EventPage(rows, rows[-1].seq if len(rows) == limit and not newest else None)
