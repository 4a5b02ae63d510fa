"""Turn notices (notify-on-stop): tell a message's sender when the turn it caused ends.

Turns end as the state machine says — a Stop, an interrupt seen on the screen, an API
failure — so a turn that ends with no hook still owes its notice. The notice is written
in that fact's own transaction, so a crash neither loses nor repeats one. A message's turn
is found by its receipt: its position in the event log and the conversation it was
received in. A message received mid-turn and owed a turn of its own (``receipt_busy``)
belongs to the next turn, not the one running. A cleared conversation's turns are
forgotten. No notice goes to a sender that already heard from the target since.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sm.core.delivery.queue import Queue
from sm.core.sessions import Fact
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode

# the turn ends that carry the turn's last message
_WITH_MESSAGE = frozenset({"Stop", "agent-turn-complete"})


class Notices:
    def __init__(self, store: Store, queue: Queue) -> None:
        self.store = store
        self.queue = queue

    async def on_fact(self, conn: Conn, rec: SessionRecord, fact: Fact
                      ) -> list[EventRecord | None]:
        """A ``Consequence``: the notices owed for the turn ``fact`` ended."""
        if fact.hook == "SessionStart" and fact.data.get("source") == "clear":
            await self._forget(conn, rec.id)
            return []
        if not fact.step.turn_ended:
            return []
        if fact.signal.kind == "interrupted" and fact.signal.detail == "clear":
            await self._forget(conn, rec.id)  # interrupted to clear: that task is dropped
            return []
        return await self._turn_ended(conn, rec, fact.data, fact)

    async def _turn_ended(
        self, conn: Conn, target: SessionRecord, data: Mapping[str, Any], fact: Fact
    ) -> list[EventRecord | None]:
        conv = data.get("session_id") or data.get("thread-id")
        if fact.hook in _WITH_MESSAGE:
            said = target.last_message or ""
        elif fact.signal.kind == "StopFailure":
            said = f"(the turn failed: {fact.signal.detail})"
        else:
            said = f"(the turn ended with no final message: {fact.signal.kind})"
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
                conn, None, "sm", sender, f"{target.label} stopped: {said}",
                DeliveryMode.SEQUENTIAL)
            events.append(event)
        return events

    async def _forget(self, conn: Conn, session_id: str) -> None:
        now = self.queue.clock()
        for msg in await self.store.messages.awaiting_stop(session_id):
            await self.store.messages.update(conn, msg.id, now, notified=1)
