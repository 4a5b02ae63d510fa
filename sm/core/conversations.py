"""Conversations: clearing an agent's conversation, and handing a session over to a new
one of its own.

A clear is a queued item (``Delivery.clear``) typed by the target's one delivery worker,
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

from sm.core.delivery import Delivery
from sm.core.events import EventBus
from sm.core.reminders import REMIND, TASK_KINDS, Reminders
from sm.core.sessions import Caller, Sessions
from sm.errors import Conflict, InvalidInput
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord


@dataclass(frozen=True)
class Cleared:
    clear: MessageRecord
    prompt: MessageRecord | None


class Conversations:
    def __init__(
        self,
        store: Store,
        sessions: Sessions,
        delivery: Delivery,
        reminders: Reminders,
        bus: EventBus,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.delivery = delivery
        self.reminders = reminders
        self.bus = bus
        self.clock = clock
        bus.listen(self._on_event)

    async def clear(
        self, caller: Caller, ref: str, prompt: str = "", mode: str = "sequential",
        notify_on_stop: bool | None = None,
    ) -> Cleared:
        """Queue a clear of the target's conversation, then ``prompt`` (if any) as the
        first message of the new one, both in ``mode``. Raises Refused unless the caller
        is the operator, the target or one of its ancestors; InvalidInput when the
        agent has no clear command; Conflict when it is dead."""
        target = await self.sessions.resolve(ref)
        await self.sessions.check_may_manage(caller, target)
        if not target.is_live:
            raise Conflict(f"session {target.label} is {target.state}; nothing to clear")
        clear = await self.delivery.clear(caller, target, mode)
        sent = None
        if prompt.strip():
            sent = (await self.delivery.send(caller, [target.id], prompt, mode,
                                             notify_on_stop))[0]
        return Cleared(clear, sent)

    async def handoff(self, caller: Caller, prompt: str) -> Cleared:
        """At the end of the caller's current turn, clear its conversation and give it
        ``prompt`` as the new first message (both queued ahead of sequential messages,
        and a clear is never typed into a running turn)."""
        if caller is None:
            raise InvalidInput("sm handoff hands over the calling session: run it from an agent")
        if not prompt.strip():
            raise InvalidInput("the handoff file is empty")
        return await self.clear(caller, caller.id, prompt, "important", notify_on_stop=False)

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.kind != "hook" or ev.session_id is None:
            return
        data = ev.payload.get("data") or {}
        if ev.payload.get("event") != "SessionStart" or data.get("source") != "clear":
            return
        # delivery (listening first) has matched the clear item this hook confirms
        item = await self.store.messages.latest(ev.session_id, "clear")
        if item is not None and item.receipt_seq == ev.seq:
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
            event = await self.store.events.append(conn, now, session_id, "cleared", {
                "since": since, "handoff": handoff,
            })
        await self.bus.publish([event] if event else [])
