"""The scheduler: one asyncio task that sleeps until the earliest due time of its
sources (reminders, watcher deadlines), fires what is due, and sleeps again.

Due times are rows in the store, so nothing is lost when the daemon dies: after a start
the first pass fires whatever fell due meanwhile. A source that changes a due time calls
``poke()`` so the sleep is recomputed — there is no per-second polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sm.errors import SmError

log = logging.getLogger("sm.scheduler")
_AFTER_ERROR = 1.0  # seconds before retrying after a source failed: never a hot loop


class Timed(Protocol):
    async def next_due(self) -> float | None:
        """The earliest wall-clock time something is due, or None."""
        ...

    async def run_due(self, now: float) -> None:
        """Fire everything due at ``now``; each fired row must move past ``now``."""
        ...


class Scheduler:
    def __init__(
        self, sources: Sequence[Timed] = (), clock: Callable[[], float] = time.time
    ) -> None:
        self.sources = list(sources)
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def poke(self) -> None:
        """A due time changed: look again now."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            failed = False
            for source in self.sources:
                try:
                    await source.run_due(self.clock())
                except SmError as exc:
                    failed = True
                    log.warning("scheduled work failed: %s", exc.message)
                except Exception:
                    failed = True
                    log.exception("scheduled work failed")
            dues = [d for s in self.sources if (d := await s.next_due()) is not None]
            timeout = max(0.0, min(dues) - self.clock()) if dues else None
            if failed:
                timeout = max(timeout or 0.0, _AFTER_ERROR)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
