"""The operator's inbox: sessions write to the human; the human reads.

    sm send operator "…"   a note (a row and an ``inbox`` event; never typed anywhere;
                           the Telegram bridge mirrors it to the operator chat)
    sm inbox               the notes, newest first — peeking never marks one read
    sm inbox ack ID…|--all marks them read
"""

from __future__ import annotations

import builtins
import secrets

from sm.core.caller import Caller
from sm.core.delivery import Queue
from sm.core.delivery.queue import ID_BYTES
from sm.core.events import EventBus
from sm.errors import InvalidInput, NotFound
from sm.ops.authz import Authz
from sm.store import Store
from sm.store.inbox import NoteRecord
from sm.vocab import EventKind

MAX_LIST = 1000


class InboxOps:
    def __init__(self, store: Store, queue: Queue, bus: EventBus, authz: Authz) -> None:
        self.store = store
        self.queue = queue
        self.bus = bus
        self.authz = authz

    async def write(self, caller: Caller, body: str) -> NoteRecord:
        """Store a note for the human (anyone may). Raises InvalidInput (empty, too big)."""
        now = self.queue.clock()
        note = NoteRecord(id=secrets.token_hex(ID_BYTES), sender_id=caller.id,
                          sender_label=caller.label, body=self.queue.check_body(body),
                          created_at=now)
        async with self.store.write() as conn:
            await self.store.inbox.add(conn, note)
            event = await self.store.events.append(conn, now, caller.id, EventKind.INBOX, {
                "id": note.id, "from": note.sender_label, "action": "written"})
        await self.bus.publish([event])
        return note

    async def list(self, caller: Caller, *, unread: bool = False, limit: int = 100
                   ) -> list[NoteRecord]:
        """The notes, newest first; marks nothing. The operator only."""
        await self.authz.check_operator(caller, "reading the operator's inbox")
        return await self.store.inbox.list(unread=unread, limit=max(1, min(limit, MAX_LIST)))

    async def ack(self, caller: Caller, refs: builtins.list[str], *, everything: bool = False
                  ) -> builtins.list[NoteRecord]:
        """Mark notes read (every unread one with ``everything``); returns them as they
        are now. Idempotent. Raises NotFound, InvalidInput (ambiguous prefix, nothing
        named). The operator only."""
        await self.authz.check_operator(caller, "reading the operator's inbox")
        if everything == bool(refs):
            raise InvalidInput("name the notes to mark read, or --all (not both)")
        ids = await self.store.inbox.unread_ids() if everything else [
            await self._resolve(ref) for ref in refs]
        now = self.queue.clock()
        events = []
        async with self.store.write() as conn:
            for note_id in ids:
                if await self.store.inbox.mark_read(conn, [note_id], now, caller.via):
                    events.append(await self.store.events.append(
                        conn, now, None, EventKind.INBOX,
                        {"id": note_id, "action": "read", "by": caller.via}))
        await self.bus.publish(events)
        return [n for n in [await self.store.inbox.get(i) for i in ids] if n is not None]

    async def _resolve(self, ref: str) -> str:
        """A note by id or unique id prefix."""
        if not 0 < len(ref) <= 2 * ID_BYTES:
            raise InvalidInput(f"note reference {ref[:40]!r}: expected 1 to {2 * ID_BYTES} "
                               "characters of its id")
        found = await self.store.inbox.by_prefix(ref)
        if not found:
            raise NotFound(f"no note {ref!r} in the operator's inbox")
        if len(found) > 1:
            raise InvalidInput(f"note reference {ref!r} is ambiguous: give more of its id")
        return found[0].id
