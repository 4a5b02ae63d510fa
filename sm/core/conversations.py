"""Conversations: clearing an agent's conversation, and handing a session over to a new
one of its own.

A clear is a queued item (``Queue.clear``) typed by the target's one delivery worker,
so it never interleaves with a message being typed, and confirmed by the agent's
SessionStart(source=clear) with a new conversation id. When the agent starts its new
conversation — whoever cleared it — nothing of the old task is carried into it:

- notify-on-stop arms of the old turns are forgotten (``core/notices.py`` does this);
- sm's own notices still queued for the old task (a reminder that fired, a wait that
  settled) are cancelled, and a message an interrupt put back into the composer on the
  way to the clear is cancelled rather than typed into the new conversation;
- the session's cached ``last_message`` and ``status_text`` are reset;
- its task reminders (``sm remind``, status nudges) and the ``sm wait --notify``
  watchers it had set up are cancelled — those created before the clear was asked
  for; what was armed after (a dispatch's new status nudges) stays.

A handoff (a session clearing itself to go on with the same task in a fresh context)
keeps its status line and the status nudges its parent armed; the rest goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sm.core.caller import Caller
from sm.core.delivery import Queue
from sm.core.events import EventBus
from sm.core.reminders import REMIND, TASK_KINDS, Reminders
from sm.errors import Conflict, InvalidInput
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, EventKind, MessageKind, MessageState


@dataclass(frozen=True)
class Cleared:
    clear: MessageRecord
    prompt: MessageRecord | None


class Conversations:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        reminders: Reminders,
        bus: EventBus,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self.reminders = reminders
        self.bus = bus
        self.clock = clock
        bus.listen(self._on_event, "conversations", (EventKind.MESSAGE, EventKind.HOOK))

    async def clear(
        self, caller: Caller, target: SessionRecord, command: str, prompt: str = "",
        mode: DeliveryMode = DeliveryMode.SEQUENTIAL, notify_on_stop: bool | None = None,
    ) -> Cleared:
        """Queue ``command`` (the provider's clear) for the target, then ``prompt`` (if
        any) as the first message of the new conversation, both in ``mode``. Raises
        InvalidInput when the agent has no clear command, Conflict when it is dead."""
        if not target.is_live:
            raise Conflict(f"session {target.label} is {target.state}; nothing to clear")
        if not command:
            raise InvalidInput(f"session {target.label} ({target.provider}) has no clear command")
        clear = await self.queue.clear(caller, target, command, mode)
        sent = None
        if prompt.strip():
            sent = (await self.queue.send(caller, [target], prompt, mode,
                                          notify_on_stop=notify_on_stop))[0]
        return Cleared(clear, sent)

    async def handoff(self, caller: Caller, command: str, prompt: str) -> Cleared:
        """At the end of the caller's current turn, clear its conversation and give it
        ``prompt`` as the new first message (both queued ahead of sequential messages,
        and a clear is never typed into a running turn)."""
        me = caller.require_session("sm handoff hands over the calling session")
        if not prompt.strip():
            raise InvalidInput("the handoff file is empty")
        return await self.clear(caller, me, command, prompt, DeliveryMode.IMPORTANT,
                                notify_on_stop=False)

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.session_id is None:
            return
        p = ev.payload
        if ev.kind == EventKind.MESSAGE and p.get("kind") == MessageKind.CLEAR \
                and p.get("state") == MessageState.DELIVERED:
            # sm's clear item is confirmed (by the agent's SessionStart, or its screen)
            item = await self.store.messages.get(str(p.get("id")))
            if item is not None:
                await self.forget_task(ev.session_id, item.created_at,
                                       handoff=item.sender_id == ev.session_id,
                                       cleared_at=item.delivered_at or ev.ts)
            return
        data = p.get("data") or {}
        if ev.kind != EventKind.HOOK or p.get("event") != "SessionStart" \
                or data.get("source") != "clear":
            return
        item = await self.store.messages.latest(ev.session_id, MessageKind.CLEAR)
        if item is None or item.receipt_seq != ev.seq:
            await self.forget_task(ev.session_id, ev.ts)  # a clear typed by someone else

    async def forget_task(self, session_id: str, since: float, handoff: bool = False,
                          cleared_at: float | None = None) -> None:
        """Reset what the session carried for the task it had before ``since``: its
        last message and (unless ``handoff``) status line, its reminders of that task
        and its own watchers. One transaction for the session, one for reminders."""
        now = self.clock()
        await self.reminders.end(session_id, (REMIND,) if handoff else TASK_KINDS, before=since)
        # notices sm queued for the old task (a reminder that fired, a wait that settled)
        for msg in await self.store.messages.open_for(session_id):
            if msg.sender_id is None and msg.sender_label == "sm" \
                    and msg.created_at <= (cleared_at or now) \
                    and msg.state == MessageState.QUEUED and msg.kind == MessageKind.TEXT:
                await self.queue.move(msg, MessageState.CANCELLED, "its conversation was "
                                      "cleared before it was delivered",
                                      from_states=(MessageState.QUEUED,))
        reset: dict[str, None] = {"last_message": None}
        if not handoff:
            reset["status_text"] = None
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, session_id, now, **reset)
            await self.store.watchers.cancel_for_watcher(conn, session_id, since, now)
            for msg in await self.store.messages.awaiting_stop(session_id):
                if (msg.delivered_at or 0.0) <= (cleared_at or since):
                    await self.store.messages.update(conn, msg.id, now, notified=1)
            event = await self.store.events.append(conn, now, session_id, EventKind.CLEARED, {
                "since": since, "handoff": handoff,
            })
        await self.bus.publish([event])
