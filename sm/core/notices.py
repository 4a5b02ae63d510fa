"""Turn notices (notify-on-stop): tell a message's sender when the turn it caused ends.

Written in the turn-ending hook's own transaction, so a crash neither loses nor repeats
a notice. A message's turn is found by its receipt: its position in the hook log and the
conversation it was received in. A message received mid-turn (``receipt_busy``) belongs
to the next turn, not the one running. A cleared conversation's turns are forgotten.
No notice goes to a sender that already heard from the target since the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sm.core.delivery.queue import Queue
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode

# the turn ends that carry the turn's last message (an interrupt or an API failure does not)
_NOTIFYING = frozenset({"Stop", "agent-turn-complete"})


class Notices:
    def __init__(self, store: Store, queue: Queue) -> None:
        self.store = store
        self.queue = queue

    async def on_hook(
        self, conn: Conn, rec: SessionRecord, hook: str, data: Mapping[str, Any],
        fact: EventRecord,
    ) -> list[EventRecord | None]:
        """A ``HookConsequence``: the notices the turn that ``hook`` ended owes."""
        if hook == "SessionStart" and data.get("source") == "clear":
            await self._forget(conn, rec.id)
            return []
        if hook not in _NOTIFYING:
            return []
        return await self._turn_ended(conn, rec, data, fact)

    async def _turn_ended(
        self, conn: Conn, target: SessionRecord, data: Mapping[str, Any], fact: EventRecord
    ) -> list[EventRecord | None]:
        conv = data.get("session_id") or data.get("thread-id")
        now = self.queue.clock()
        events: list[EventRecord | None] = []
        for msg in await self.store.messages.awaiting_stop(target.id):
            if msg.receipt_seq is None or msg.receipt_seq > fact.seq:
                continue
            if conv and msg.receipt_conv and conv != msg.receipt_conv:
                continue  # a Stop of another conversation
            if msg.receipt_busy:
                await self.store.messages.update(conn, msg.id, now, receipt_busy=0)
                continue
            await self.store.messages.update(conn, msg.id, now, notified=1)
            if msg.sender_id is None:
                continue
            sender = await self.store.sessions.get(msg.sender_id)
            if sender is None or not sender.is_live:
                continue
            if await self.store.messages.sent_since(target.id, sender.id,
                                                    msg.delivered_at or msg.created_at):
                continue
            _, event = await self.queue.accept_in(
                conn, None, "sm", sender, f"{target.label} stopped: {target.last_message or ''}",
                DeliveryMode.SEQUENTIAL)
            events.append(event)
        return events

    async def _forget(self, conn: Conn, session_id: str) -> None:
        now = self.queue.clock()
        for msg in await self.store.messages.awaiting_stop(session_id):
            await self.store.messages.update(conn, msg.id, now, notified=1)
