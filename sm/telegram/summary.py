"""The daily summary: once a day at ``telegram.daily_summary`` (HH:MM, local time), what
was spent since the same time the day before, to the main chat.

At most once per local day, across restarts: the day sent is kept in
``telegram_state`` and written in the same transaction as the outbox rows that carry
the summary, so a crash either sends it (the outbox delivers it) or leaves it due. A
daemon that starts after the time posts that day's summary at once; a day the daemon
was down past midnight is not caught up.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as clock_time

from sm.core.caller import Caller
from sm.errors import InvalidInput
from sm.ops.usage import SummaryRequest, UsageOps
from sm.store import Store
from sm.store.telegram import OutboxItem, TelegramRows
from sm.telegram import format as fmt
from sm.telegram.outbox import Outbox

log = logging.getLogger("sm.telegram")

KEY = "daily_summary_day"
_AT = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_at(text: str) -> tuple[int, int]:
    """``"18:00"`` → (18, 0). Raises InvalidInput for anything else."""
    found = _AT.match(text.strip())
    if found is None:
        raise InvalidInput(f"telegram.daily_summary {text!r}: expected a local time HH:MM "
                           '(quote it in config.yaml: "18:00"), or empty for none')
    return int(found[1]), int(found[2])


def due(at: tuple[int, int], now: float, last_day: str) -> tuple[str, float] | None:
    """Whether a summary is due at ``now``: (the local day it is for, the time it counts
    from: ``at`` the day before), or None — before today's ``at``, or today's already
    sent (``last_day``)."""
    local = datetime.fromtimestamp(now)
    day = local.date()
    if now < datetime.combine(day, clock_time(*at)).timestamp() or last_day == day.isoformat():
        return None
    since = datetime.combine(day - timedelta(days=1), clock_time(*at)).timestamp()
    return day.isoformat(), since


class DailySummary:
    def __init__(
        self, at: tuple[int, int] | None, store: Store, rows: TelegramRows, outbox: Outbox,
        usage: UsageOps, caller: Caller, clock: Callable[[], float] = time.time,
        top: int = 5,
    ) -> None:
        """``at``: (hour, minute) local time (``parse_at``), None for no summary. Opens
        nothing."""
        self.at = at
        self.store = store
        self.rows = rows
        self.outbox = outbox
        self.usage = usage
        self.caller = caller
        self.clock = clock
        self.top = top
        self._last: str | None = None  # the day last sent, once read

    async def tick(self) -> bool:
        """Post the summary if it is due (one store read the first time, then none until
        it is due). Returns whether it was queued. Raises SmError from the store."""
        if self.at is None:
            return False
        now = self.clock()
        if self._last is None:
            self._last = await self.rows.state.get(KEY) or ""
        found = due(self.at, now, self._last)
        if found is None:
            return False
        day, since = found
        summary = await self.usage.summary(self.caller, SummaryRequest(since, self.top))
        async with self.store.write() as conn:
            for i, (plain, html) in enumerate(fmt.spend_summary(summary)):
                await self.rows.outbox.enqueue(conn, OutboxItem(
                    "alert", plain, html, dedupe_key=f"summary:{day}:{i}"), now)
            await self.rows.state.set(conn, KEY, day)
        self._last = day
        self.outbox.wake()
        log.info("telegram: daily summary for %s queued", day)
        return True
