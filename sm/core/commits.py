"""Group commit for accepted messages: requests that arrive while a transaction is being
written share the next one.

The first message is written at once (no timer, no added latency); whatever arrives
meanwhile waits for that commit and then goes in one transaction together — a handful of
database round trips however many messages. Each caller's ``add`` returns only after
the transaction holding its row has committed, so the durability promise of a single
accept holds for every message of a group. A group that fails is written again one
message per transaction, so one bad row fails only its own request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sm.store import Store
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord
from sm.vocab import EventKind

_Pending = tuple[MessageRecord, dict[str, Any], "asyncio.Future[EventRecord]"]


class GroupCommit:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, msg: MessageRecord, payload: dict[str, Any]) -> EventRecord:
        """Insert ``msg`` and its ``message`` event (``payload``); return the event once
        committed. Raises what the store raised for this row."""
        future: asyncio.Future[EventRecord] = asyncio.get_running_loop().create_future()
        self._pending.append((msg, payload, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Wait for the group being written (idempotent)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                events = await self._commit(group)
            except Exception:
                for item in group:
                    await self._write_one(item)
                continue
            for (_, _, future), event in zip(group, events, strict=True):
                if not future.done():
                    future.set_result(event)

    async def _commit(self, group: list[_Pending]) -> list[EventRecord]:
        async with self.store.write(first=True) as conn:
            await self.store.messages.insert_many(conn, [m for m, _, _ in group])
            return await self.store.events.append_many(
                conn, [(m.created_at, m.target_id, EventKind.MESSAGE, p) for m, p, _ in group])

    async def _write_one(self, item: _Pending) -> None:
        try:
            event, = await self._commit([item])
        except Exception as exc:
            if not item[2].done():
                item[2].set_exception(exc)
        else:
            if not item[2].done():
                item[2].set_result(event)
