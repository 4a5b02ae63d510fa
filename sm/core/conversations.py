"""Conversations: clearing an agent's conversation, and handing a session over to a new
one of its own.

A clear is a queued item (``Queue.clear``) typed by the target's one delivery worker,
so it never interleaves with a message being typed, and confirmed by the agent's
SessionStart(source=clear) with a new conversation id. When the agent starts its new
conversation — whoever cleared it — nothing of the old task is carried into it:

- notify-on-stop arms of the old turns are forgotten (delivery does this);
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
        bus.listen(self._on_event, "conversations")

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
        if ev.kind != EventKind.HOOK or ev.session_id is None:
            return
        data = ev.payload.get("data") or {}
        if ev.payload.get("event") != "SessionStart" or data.get("source") != "clear":
            return
        # the clear item this hook confirmed (matched in the hook's own transaction)
        item = await self.store.messages.latest(ev.session_id, MessageKind.CLEAR)
        if item is not None and item.receipt_seq == ev.seq \
                and item.state == MessageState.DELIVERED:
            await self.forget_task(ev.session_id, item.created_at,
                                   handoff=item.sender_id == ev.session_id)
        else:
            await self.forget_task(ev.session_id, ev.ts)

    async def forget_task(self, session_id: str, since: float, handoff: bool = False) -> None:
        """Reset what the session carried for the task it had before ``since``: its
        last message and (unless ``handoff``) status line, its reminders of that task
        and its own watchers. One transaction for the session, one for reminders."""
        now = self.clock()
        await self.reminders.end(session_id, (REMIND,) if handoff else TASK_KINDS, before=since)
        reset: dict[str, None] = {"last_message": None}
        if not handoff:
            reset["status_text"] = None
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, session_id, now, **reset)
            await self.store.watchers.cancel_for_watcher(conn, session_id, since, now)
            event = await self.store.events.append(conn, now, session_id, EventKind.CLEARED, {
                "since": since, "handoff": handoff,
            })
        await self.bus.publish([event])
