"""The bridge: the swarm in a Telegram chat, from inside the daemon.

    bus ──► Mirror ──► outbox rows ──► Outbox task ──► Telegram
                                            ▲
    Telegram ──► Connection (long poll) ──► Inbound ──► operations (as the operator)
    clock ──► DailySummary (telegram.daily_summary) ──► outbox rows

Everything runs in its own tasks: the bus listener only records a sequence number, so
agent-to-agent delivery never waits on Telegram. Every fact the bridge acts on is a
row (cursor, outbox, threads, approvals, questions); a restart resumes where it was.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from sm.config import TelegramSettings
from sm.core.caller import Caller
from sm.core.events import EventBus
from sm.errors import InvalidInput, SmError
from sm.ops import Ops
from sm.store import Store
from sm.store.telegram import TelegramRows
from sm.telegram.approvals import Approvals
from sm.telegram.asks import Asks
from sm.telegram.bot import Connection
from sm.telegram.inbound import Access, Inbound
from sm.telegram.mirror import Mirror
from sm.telegram.outbox import Outbox
from sm.telegram.summary import DailySummary, parse_at

log = logging.getLogger("sm.telegram")


class Bridge:
    def __init__(
        self, settings: TelegramSettings, store: Store, bus: EventBus, ops: Ops,
        caller: Caller, clock: Callable[[], float] = time.time,
    ) -> None:
        """Raises InvalidInput for an allowlist entry that is not a number. Opens nothing.
        ``caller``: who the bridge acts as (the operator, via Telegram). A
        ``daily_summary`` that is no HH:MM is logged; the bridge runs without it."""
        self.settings = settings
        self.store = store
        self.clock = clock
        self.rows = TelegramRows(store)
        self.outbox = Outbox(store, self.rows, settings.chat_id, clock)
        self.mirror = Mirror(store, self.rows, self.outbox, settings, clock)
        self.approvals = Approvals(store, self.rows, ops, caller, self.outbox,
                                   settings.permission_timeout, clock)
        self.asks = Asks(store, ops, caller)
        self.inbound = Inbound(settings, store, self.rows, ops, caller, self.outbox,
                               self.mirror, self.approvals, self.asks)
        self.connection = Connection(settings, self.outbox, self.inbound)
        self.summary = DailySummary(_summary_at(settings.daily_summary), store, self.rows,
                                    self.outbox, ops.usage, caller, clock)
        self._tasks: list[asyncio.Task[Any]] = []
        bus.listen(self.mirror.on_event, "telegram")

    @property
    def access(self) -> Access:
        return self.inbound.access

    async def open(self) -> None:
        """Load the mirror's cursor (one read, one write the first time)."""
        await self.mirror.open()

    def start(self) -> None:
        for name, job in (("connection", self.connection.run), ("outbox", self.outbox.run),
                          ("mirror", self.mirror.run), ("timers", self._timers)):
            self._tasks.append(asyncio.create_task(_logged(name, job), name=f"telegram-{name}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.connection.close()

    # -- timers ---------------------------------------------------------------------------
    async def _timers(self) -> None:
        """Once a second: deny prompts past their deadline; post the daily summary when
        it is due. (A stalled agent is alerted from its ``health`` event:
        sm/core/health.py.)"""
        while True:
            await asyncio.sleep(1.0)
            await self.approvals.expire()
            try:
                await self.summary.tick()
            except SmError as exc:  # tried again at the next tick
                log.warning("telegram: daily summary not queued: %s", exc.message)


def _summary_at(text: str) -> tuple[int, int] | None:
    if not text.strip():
        return None
    try:
        return parse_at(text)
    except InvalidInput as exc:
        log.error("telegram: no daily summary: %s", exc.message)
        return None


async def _logged(name: str, job: Callable[[], Any]) -> None:
    """Run one of the bridge's loops; a bug is logged and the loop restarted."""
    while True:
        try:
            await job()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("telegram %s loop failed; restarting it", name)
            await asyncio.sleep(1.0)
