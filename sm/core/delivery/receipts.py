"""Receipts: the agent's own signal that a message reached it, matched in the hook's
transaction.

Only the delivery itself can produce a receipt: a UserPromptSubmit matches the message
that is being typed into that session right now (``delivering``), and only when the
submitted prompt *starts with* that message's header. Text that merely quotes a header
(``[sm <id> from x]`` inside a body, an agent echoing an old message) matches nothing.
A clear item is confirmed by the agent starting a conversation other than the one it
was typed into.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sm.agents.base import Provider
from sm.core.delivery.queue import Queue, header
from sm.core.sessions import Fact
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import MessageKind, MessageState, SessionState

_ACTIVE = (SessionState.RUNNING, SessionState.WAITING_PERMISSION)

_DELIVERING = (MessageState.DELIVERING,)


class Receipts:
    def __init__(self, store: Store, queue: Queue, providers: Mapping[str, Provider]) -> None:
        self.store = store
        self.queue = queue
        self.providers = providers

    async def on_fact(self, conn: Conn, rec: SessionRecord, fact: Fact
                      ) -> list[EventRecord | None]:
        """A ``Consequence``: the receipt this hook is, if any."""
        if fact.hook == "UserPromptSubmit":
            return [await self._prompt(conn, rec, fact)]
        if fact.hook == "SessionStart" and fact.data.get("source") == "clear":
            return [await self._cleared(conn, rec, fact.data, fact.seq)]
        return []

    async def _prompt(self, conn: Conn, rec: SessionRecord, fact: Fact) -> EventRecord | None:
        data = fact.data
        msg = await self.store.messages.delivering(rec.id)
        if msg is None or msg.kind != MessageKind.TEXT:
            return None
        provider = self.providers.get(rec.provider)
        prompt = str(data.get("prompt") or "")
        text = provider.submitted_text(prompt) if provider is not None else prompt.lstrip()
        if not text.startswith(header(msg.id, msg.sender_label)):
            return None
        # a prompt taken while a turn ran belongs to the turn owed to it after that
        # one, unless the agent answers it inside the running turn (the state machine
        # decided: a tool in flight, or an agent that folds prompts in)
        joined = fact.signal.detail == "joins" or fact.turns_before.tool
        busy = fact.before in _ACTIVE and not joined
        return await self.queue.move_in(
            conn, msg, MessageState.DELIVERED, None, from_states=_DELIVERING,
            receipt_seq=fact.seq, receipt_conv=data.get("session_id"), receipt_busy=int(busy),
        )

    async def _cleared(
        self, conn: Conn, rec: SessionRecord, data: Mapping[str, Any], seq: int
    ) -> EventRecord | None:
        msg = await self.store.messages.delivering(rec.id)
        if msg is None or msg.kind != MessageKind.CLEAR:
            return None
        conv = data.get("session_id")
        if conv and msg.receipt_conv == conv:
            return None  # the same conversation: not this clear
        return await self.queue.move_in(
            conn, msg, MessageState.DELIVERED, None, from_states=_DELIVERING,
            receipt_seq=seq, receipt_conv=conv,
        )
