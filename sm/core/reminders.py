"""Reminders: notices delivered to a session when they fall due, kept as rows.

    remind        ``sm remind DELAY TEXT [--recurring]``: to the caller, important
    status-soft   a dispatched child with no status change for ``remind.soft`` seconds:
                  an important nudge, again every ``remind.soft`` seconds
    status-hard   … for ``remind.hard`` seconds: urgent (interrupts its turn)
    digest        every ``remind.digest`` seconds, to an orchestrator: each live child's
                  state and status, ``NO PROGRESS`` when its status has not changed
                  since the previous digest

``sm status "TEXT"`` moves the status reminders on; task-complete ends them. The
scheduler (``core/scheduler.py``) calls ``run_due``; every change calls ``poke`` so its
sleep is recomputed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sm.config import RemindSettings
from sm.core.caller import Caller
from sm.core.delivery import Queue, clean_body
from sm.core.events import EventBus
from sm.durations import format_duration, parse_duration
from sm.errors import Conflict, InvalidInput, NotFound
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord
from sm.store.reminders import ReminderRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, EventKind

REMIND, STATUS_SOFT, STATUS_HARD, DIGEST = "remind", "status-soft", "status-hard", "digest"
STATUS_KINDS = (STATUS_SOFT, STATUS_HARD)
TASK_KINDS = (REMIND, STATUS_SOFT, STATUS_HARD)  # what belongs to one task (a conversation)
ALL_KINDS = (*TASK_KINDS, DIGEST)




def parse_delay(text: str) -> float:
    """Seconds in a delay like ``90``, ``30s``, ``5m``, ``1h``, ``1h30m`` or ``2d``.
    Raises InvalidInput naming the bad value."""
    return parse_duration(text, "delay")


@dataclass(frozen=True)
class ChildStatus:
    """One child as a digest shows it."""

    id: str
    label: str
    state: str
    status_text: str | None
    mark: int  # seq of its latest status (or task-complete) event; 0: none
    complete: bool  # its latest such event is a task-complete


def format_digest(parent: str, children: list[ChildStatus], before: dict[str, int]) -> str:
    """The digest text. ``before`` maps child ids to their marks at the previous digest;
    a child whose mark has not moved is flagged ``NO PROGRESS``. Pure."""
    lines = [f"[sm digest] {len(children)} children of {parent}:"]
    for c in children:
        flag = ""
        if c.complete:
            flag = " (task complete)"
        elif c.id in before and before[c.id] == c.mark:
            flag = " — NO PROGRESS"
        lines.append(f"  {c.label} ({c.state}): {c.status_text or 'no status yet'}{flag}")
    return "\n".join(lines)


class Reminders:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        bus: EventBus,
        settings: RemindSettings,
        *,
        poke: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self.bus = bus
        self.settings = settings
        self.poke = poke
        self.clock = clock

    # -- sm remind ------------------------------------------------------------------
    async def add(self, caller: Caller, delay: str, text: str, recurring: bool = False
                  ) -> ReminderRecord:
        """Arm a reminder for the caller. Raises InvalidInput without a session, for a
        bad delay or an empty text."""
        me = caller.require_session("a reminder is delivered to a session: sm remind")
        seconds = parse_delay(delay)
        text = clean_body(text).strip()
        if not text:
            raise InvalidInput("the reminder text is empty")
        rec = self._new(me.id, REMIND, f"[sm remind] {text}", "important", seconds,
                        recurring, me.id)
        await self._insert([rec])
        return rec

    async def find(self, ref: str) -> ReminderRecord:
        """One reminder by id or unique prefix. Raises NotFound, InvalidInput."""
        found = await self.store.reminders.get(ref)
        if not found:
            raise NotFound(f"no reminder {ref!r}")
        if len(found) > 1:
            raise InvalidInput(f"reminder id {ref!r} is ambiguous")
        return found[0]

    async def cancel(self, rec: ReminderRecord) -> ReminderRecord:
        """Cancel one armed reminder. Raises Conflict when it is not armed."""
        if rec.state != "armed":
            raise Conflict(f"reminder {rec.id} is {rec.state}; only an armed one is cancelled")
        now = self.clock()
        async with self.store.write() as conn:
            await self.store.reminders.update(conn, rec.id, now, state="cancelled")
            event = await self._event(conn, rec, "cancelled")
        await self.bus.publish([event])
        self.poke()
        return (await self.store.reminders.get(rec.id))[0]

    async def armed(self, session_id: str | None) -> list[ReminderRecord]:
        """A session's armed reminders (every session's for None), soonest first."""
        return await self.store.reminders.armed(session_id)

    # -- status nudges and digests ------------------------------------------------------
    async def arm_status(self, child: SessionRecord, by: Caller) -> list[ReminderRecord]:
        """(Re)arm the soft and hard status reminders of a child, counted from now."""
        now = self.clock()
        recs = []
        if self.settings.soft > 0:
            recs.append(self._new(
                child.id, STATUS_SOFT,
                '[sm remind] update your status with sm status "what you are doing"',
                "important", self.settings.soft, True, by.id))
        if self.settings.hard > 0:
            recs.append(self._new(
                child.id, STATUS_HARD,
                f"[sm remind] no status update for {format_duration(self.settings.hard)}: "
                'update your status now with sm status "what you are doing"',
                "urgent", self.settings.hard, True, by.id))
        await self._insert(recs, replace=(child.id, STATUS_KINDS, now))
        return recs

    async def touch_status(self, session_id: str) -> None:
        """The session changed its status: its status reminders count from now."""
        recs = await self.store.reminders.armed(session_id, STATUS_KINDS)
        if not recs:
            return
        now = self.clock()
        async with self.store.write() as conn:
            for rec in recs:
                await self.store.reminders.update(conn, rec.id, now, due_at=now + (rec.every or 0))
        self.poke()

    async def end(self, session_id: str, kinds: tuple[str, ...] = ALL_KINDS,
                  before: float | None = None) -> int:
        """Cancel the session's armed reminders of ``kinds`` (created before ``before``)."""
        async with self.store.write() as conn:
            count = await self.store.reminders.cancel_for(
                conn, session_id, kinds, self.clock(), before)
        if count:
            self.poke()
        return count

    async def arm_digest(self, orchestrator: SessionRecord) -> ReminderRecord | None:
        """(Re)arm the orchestrator's periodic digest; None when ``remind.digest`` is 0.
        The children's current statuses are the baseline for the first NO PROGRESS."""
        if self.settings.digest <= 0:
            await self.end(orchestrator.id, (DIGEST,))
            return None
        children = await self._children(orchestrator.id)
        rec = self._new(orchestrator.id, DIGEST, "[sm digest]", "important",
                        self.settings.digest, True, orchestrator.id,
                        payload={"marks": {c.id: c.mark for c in children}})
        await self._insert([rec], replace=(orchestrator.id, (DIGEST,), rec.created_at))
        return rec

    # -- the scheduler's side ----------------------------------------------------------
    async def next_due(self) -> float | None:
        return await self.store.reminders.next_due()

    async def run_due(self, now: float) -> None:
        for rec in await self.store.reminders.due(now):
            await self._fire(rec, now)

    async def _fire(self, rec: ReminderRecord, now: float) -> None:
        """Deliver one due reminder; the row moves on in the notice's own transaction. A
        recurring one whose previous notice is still undelivered (the agent is stuck on
        a permission prompt, say) skips this round instead of piling up notices."""
        target = await self.store.sessions.get(rec.session_id)
        fields: dict[str, Any] = {"fired": rec.fired + 1}
        if rec.every:
            fields["due_at"] = now + rec.every
        else:
            fields["state"] = "done"
        payload = dict(rec.payload)
        body: str | None = rec.body
        if rec.kind == DIGEST and target is not None:
            children = await self._children(target.id)
            before = {k: int(v) for k, v in (payload.get("marks") or {}).items()}
            body = format_digest(target.label, children, before) if children else None
            payload["marks"] = {c.id: c.mark for c in children}
        last = await self.store.messages.get(payload["last"]) if payload.get("last") else None
        if last is not None and last.is_open:
            body, fields = None, {"due_at": fields.get("due_at", now)}
        events: list[EventRecord] = []

        async def mark(conn: Conn, notice: MessageRecord) -> None:
            await self.store.reminders.update(conn, rec.id, now, **fields,
                                              payload={**payload, "last": notice.id})
            events.append(await self._event(conn, rec, "fired"))

        if target is None or not target.is_live:
            async with self.store.write() as conn:
                await self.store.reminders.update(conn, rec.id, now, state="cancelled")
        elif body is None:
            async with self.store.write() as conn:
                await self.store.reminders.update(conn, rec.id, now, **fields)
        else:
            await self.queue.notify(target, body, DeliveryMode(rec.mode), then=mark)
            await self.bus.publish(list(events))

    # -- helpers ------------------------------------------------------------------------
    async def _children(self, parent_id: str) -> list[ChildStatus]:
        out = []
        for child in await self.store.sessions.list(live_only=True, parent_id=parent_id):
            latest = await self.store.events.list(
                session_id=child.id, kinds=(EventKind.STATUS, EventKind.TASK_COMPLETE), limit=1,
                newest=True)
            out.append(ChildStatus(
                id=child.id, label=child.label, state=child.state,
                status_text=child.status_text, mark=latest[-1].seq if latest else 0,
                complete=bool(latest) and latest[-1].kind == EventKind.TASK_COMPLETE,
            ))
        return out

    def _new(
        self, session_id: str, kind: str, body: str, mode: str, seconds: float,
        recurring: bool, created_by: str | None, payload: dict[str, Any] | None = None,
    ) -> ReminderRecord:
        now = self.clock()
        return ReminderRecord(
            id=secrets.token_hex(4), session_id=session_id, kind=kind, body=body, mode=mode,
            due_at=now + seconds, every=seconds if recurring else None, state="armed",
            fired=0, created_by=created_by, created_at=now, updated_at=now,
            payload=payload or {},
        )

    async def _insert(
        self, recs: list[ReminderRecord], replace: tuple[str, tuple[str, ...], float] | None = None
    ) -> None:
        """Insert ``recs``; ``replace`` = (session, kinds, now) first cancels the session's
        armed reminders of those kinds, in the same transaction."""
        events = []
        async with self.store.write() as conn:
            if replace is not None:
                await self.store.reminders.cancel_for(conn, *replace)
            for rec in recs:
                await self.store.reminders.insert(conn, rec)
                events.append(await self._event(conn, rec, "armed"))
        await self.bus.publish(list(events))
        self.poke()

    async def _event(self, conn: Conn, rec: ReminderRecord, action: str) -> EventRecord:
        event = await self.store.events.append(conn, self.clock(), rec.session_id,
                                               EventKind.REMINDER, {
            "id": rec.id, "kind": rec.kind, "action": action, "due_at": rec.due_at,
            "every": rec.every,
        })
        assert event is not None
        return event
