"""Launches: when a spawned agent's process may start.

A provider (claude, codex, scripted…) is **rate limited** until T when one of its
sessions reported a rate limit that resets at T (``sm/core/health.py``). A spawn of it
asked for before T is not refused: its session is recorded at once, ``starting`` with a
**launch hold** that says why (``{reason, since}``), and its agent is launched at T.

From a reset until ``spawn.after_reset`` seconds later the provider's launches are
**paced** — ten agents started at once after a reset is a known failure (only three or
four come up): one launch every ``spawn.interval`` seconds, and at most
``spawn.max_starting`` of its sessions starting at once (launched, not yet ready; a
session counts for at most ``spawn.start_timeout`` seconds). A rate limit that gave no
reset time paces from the moment it was hit. Outside a limit and its window a spawn
launches at once, as ever; held spawns go first come, first served.

- ``slot`` (pure): when a provider's next launch may go, and why not before.
- ``Pace``: reads what a slot depends on from the store, and keeps one lock per
  provider so that two launches never take the same slot.
- ``Launcher``: the daemon's scheduler of held launches. It sleeps until the earliest
  slot (a ``Scheduler`` on the injected clock), launches the oldest held session of each
  provider whose slot came, and looks again when a spawn is held or a session changes
  state. Holds are rows: after a restart the launcher picks them up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sm.core.events import EventBus
from sm.core.health import clock_time, limit_over_at
from sm.core.scheduler import Scheduler
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import EventKind


@dataclass(frozen=True)
class Pacing:
    """The ``spawn.*`` settings."""

    interval: float = 3.0  # seconds between two launches of one provider while paced
    max_starting: int = 3  # its sessions starting at once while paced; 0: no cap
    after_reset: float = 300.0  # seconds after a reset during which launches are paced
    start_timeout: float = 60.0  # seconds a launched session counts as starting at most


@dataclass(frozen=True)
class Picture:
    """What a provider's next launch depends on."""

    provider: str
    reset: float | None  # when its latest rate limit is (or was) over; None: none known
    last: float | None  # its latest launch
    starting: tuple[float, ...] = ()  # launch times of its sessions still starting
    ahead: int = 0  # held spawns of it that go first


@dataclass(frozen=True)
class Slot:
    """``go``: launch now. Otherwise ``at`` is the earliest moment it may (the reset,
    the next paced slot, a starting session counting no more) and ``reason`` says why
    it waits."""

    go: bool
    at: float
    reason: str = ""


def slot(p: Picture, pacing: Pacing, now: float) -> Slot:
    """When ``p.provider``'s next launch may go, at ``now``."""
    if p.reset is not None and p.reset > now:
        return Slot(False, p.reset, f"{p.provider} is rate limited until {clock_time(p.reset)}")
    if p.reset is None or now >= p.reset + pacing.after_reset:
        return Slot(True, now)
    at = now
    if p.last is not None:
        at = max(at, p.last + pacing.interval)
    counting = sorted(t for t in p.starting if t > now - pacing.start_timeout)
    if pacing.max_starting > 0 and len(counting) >= pacing.max_starting:
        # when enough of them have counted for start_timeout to leave a place free
        at = max(at, counting[len(counting) - pacing.max_starting] + pacing.start_timeout)
    if at <= now and not p.ahead:
        return Slot(True, now)
    cap = f", at most {pacing.max_starting} starting at once" if pacing.max_starting else ""
    return Slot(False, at, f"{p.provider} launches are paced after its rate limit reset at "
                           f"{clock_time(p.reset)}: one every {pacing.interval:g}s{cap}")


class Pace:
    """Slots as the store knows them, and the per-provider lock a launch takes them
    under."""

    def __init__(self, store: Store, pacing: Pacing) -> None:
        self.store = store
        self.pacing = pacing
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, provider: str) -> asyncio.Lock:
        """Held from asking for a slot to recording the launch that takes it."""
        return self._locks.setdefault(provider, asyncio.Lock())

    async def slot(self, provider: str, now: float, *, ahead: int = 0) -> Slot:
        """``provider``'s next slot at ``now`` (three indexed reads)."""
        since = now - max(self.pacing.after_reset, self.pacing.start_timeout)
        facts = await self.store.sessions.launch_facts(provider, since)
        resets = [m for f in facts.failures if (m := limit_over_at(f)) is not None]
        picture = Picture(provider, max(resets, default=None), facts.last, facts.starting,
                          ahead)
        return slot(picture, self.pacing, now)


# launch a held session's agent if its slot has come: True when it left its hold
# (launched, or failed to and recorded as such)
Launch = Callable[[SessionRecord], Awaitable[bool]]


class Launcher:
    """Launches held spawns when their slots come (see the module docstring)."""

    def __init__(
        self, store: Store, bus: EventBus, pace: Pace, launch: Launch, *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.pace = pace
        self.launch = launch
        self.clock = clock
        self.scheduler = Scheduler([self], clock)
        self._waiting = True  # held spawns may exist: a state change is worth a look
        bus.listen(self._on_event, "launches")

    def start(self) -> None:
        """Start the scheduler; its first pass launches what fell due while no daemon
        ran."""
        self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.close()

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.kind == EventKind.SPAWNED and ev.payload.get("held"):
            self._waiting = True
            self.scheduler.poke()
        elif self._waiting and ev.kind in (EventKind.STATE, EventKind.HEALTH):
            self.scheduler.poke()  # a session became ready (a place free), or a new limit

    async def _held(self) -> dict[str, list[SessionRecord]]:
        by_provider: dict[str, list[SessionRecord]] = {}
        for rec in await self.store.sessions.held():
            by_provider.setdefault(rec.provider, []).append(rec)
        self._waiting = bool(by_provider)
        return by_provider

    async def next_due(self) -> float | None:
        """The earliest slot of a provider with held spawns."""
        now = self.clock()
        dues = [(await self.pace.slot(provider, now)).at for provider in await self._held()]
        return min(dues, default=None)

    async def run_due(self, now: float) -> None:
        """Launch, oldest first, each provider's held spawns whose slot has come; bring
        the reasons of those still waiting up to date."""
        for provider, recs in (await self._held()).items():
            for n, rec in enumerate(recs):
                found = await self.pace.slot(provider, self.clock())
                if not found.go:
                    await self._explain(recs[n:], found.reason)
                    break
                if not await self.launch(rec):
                    break

    async def _explain(self, recs: list[SessionRecord], reason: str) -> None:
        stale = [r for r in recs if (r.launch_hold or {}).get("reason") != reason]
        if not stale:
            return
        async with self.store.write() as conn:
            for rec in stale:
                await self.store.sessions.update(conn, rec.id, rec.updated_at, launch_hold={
                    **(rec.launch_hold or {}), "reason": reason})
