"""Waiting for a session to settle: ``sm wait TARGET``.

A target is *settled* when it is idle and nothing addressed to it is still queued or
being delivered (so right after an urgent message to a running agent, it is not: the
message is open until the agent's own receipt, and by then the agent runs again) — or
when it is dead. A prompt it took mid-turn keeps it ``running`` through the turn owed
to it (the state machine models that), so waiting needs no look at its hooks.

A blocking wait listens to the target's events. A ``--notify`` wait is a watcher row,
fired by those events or by the scheduler at its deadline, and told to the watcher as
a message: ``[sm wait] NAME is idle`` (… ``exited``, … ``timed out after 10m``).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from typing import Any, Literal

from sm.core.caller import Caller
from sm.core.delivery import Queue
from sm.core.events import EventBus
from sm.durations import format_duration
from sm.errors import InvalidInput, NotFound
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.store.watchers import WatcherRecord
from sm.vocab import DeliveryMode, EventKind, SessionState

Outcome = Literal["idle", "exited", "timeout"]
_TURN_ENDS = ("Stop", "agent-turn-complete")


class Waits:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        bus: EventBus,
        *,
        poke: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self.bus = bus
        self.poke = poke
        self.clock = clock
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._watched: set[str] = set()  # targets of armed watchers (a cache of the rows)
        bus.listen(self._on_event, "waits")

    async def settled(self, target_id: str) -> Outcome | None:
        """``idle`` or ``exited`` when the target has settled, else None. Two reads."""
        rec = await self._get(target_id)
        if not rec.is_live:
            return "exited"
        if rec.state != SessionState.IDLE:
            return None
        if await self.store.messages.has_open(target_id):
            return None
        return "idle"

    async def wait(self, target: SessionRecord, timeout: float) -> tuple[SessionRecord, Outcome]:
        """Block until the target settles or ``timeout`` seconds pass. Changes nothing."""
        deadline = self.clock() + max(0.0, timeout)
        changed = asyncio.Event()
        self._waiters.setdefault(target.id, set()).add(changed)
        try:
            while True:
                changed.clear()
                outcome = await self.settled(target.id)
                if outcome is not None:
                    return await self._get(target.id), outcome
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return await self._get(target.id), "timeout"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            waiters = self._waiters.get(target.id, set())
            waiters.discard(changed)
            if not waiters:
                self._waiters.pop(target.id, None)

    async def watch(self, caller: Caller, target: SessionRecord, timeout: float
                    ) -> WatcherRecord:
        """Arm a watcher that tells the caller when the target settles or the timeout
        passes (durable: a row). Fires at once when the target is settled already.
        Raises InvalidInput without a session to tell or for a negative timeout."""
        me = caller.require_session("--notify needs a session to tell: sm wait --notify")
        if not timeout >= 0 or timeout == float("inf"):  # NaN fails the first
            raise InvalidInput(f"invalid timeout {timeout}: expected 0 or more seconds")
        now = self.clock()
        rec = WatcherRecord(
            id=secrets.token_hex(4), watcher_id=me.id, target_id=target.id,
            deadline=now + timeout, state="armed", created_at=now, updated_at=now,
        )
        async with self.store.write() as conn:
            await self.store.watchers.insert(conn, rec)
        self._watched.add(target.id)
        self.poke()
        await self._check(target.id)
        return rec

    async def start(self) -> None:
        """After a daemon start: settle every watcher whose target settled meanwhile."""
        armed = await self.store.watchers.armed()
        self._watched = {w.target_id for w in armed}
        for target_id in list(self._watched):
            await self._check(target_id)

    # -- the scheduler's side ------------------------------------------------------------
    async def next_due(self) -> float | None:
        return await self.store.watchers.next_deadline()

    async def run_due(self, now: float) -> None:
        for watcher in await self.store.watchers.armed():
            if watcher.deadline > now:
                break
            target = await self._get(watcher.target_id)
            waited = format_duration(watcher.deadline - watcher.created_at)
            await self._settle(watcher, "timed_out",
                               f"[sm wait] {target.label} timed out after {waited}")

    # -- facts --------------------------------------------------------------------------
    async def _on_event(self, ev: EventRecord) -> None:
        if ev.session_id is None:
            return
        for changed in self._waiters.get(ev.session_id, ()):
            changed.set()
        if ev.session_id in self._watched and (
                ev.kind in (EventKind.STATE, EventKind.MESSAGE) or _ends_turn(ev)):
            await self._check(ev.session_id)

    async def _check(self, target_id: str) -> None:
        watchers = await self.store.watchers.armed(target_id)
        if not watchers:
            self._watched.discard(target_id)
            return
        outcome = await self.settled(target_id)
        if outcome is None:
            return
        target = await self._get(target_id)
        text = f"[sm wait] {target.label} is idle" if outcome == "idle" else \
            f"[sm wait] {target.label} {target.state}"
        for watcher in watchers:
            await self._settle(watcher, outcome, text)

    async def _settle(self, watcher: WatcherRecord, state: str, text: str) -> None:
        """Tell the watcher, and move its row, in one transaction (once, even when two
        facts race: only the first that finds it armed sends)."""
        now = self.clock()
        won: list[bool] = []

        async def mark(conn: Conn, _notice: Any = None) -> None:
            won.append(await self.store.watchers.settle(conn, watcher.id, state, now))
            if not won[-1]:
                raise _AlreadySettled

        session = await self._get(watcher.watcher_id)
        try:
            if session.is_live:
                await self.queue.notify(session, text, DeliveryMode.SEQUENTIAL, then=mark)
            if not won:
                async with self.store.write() as conn:
                    await mark(conn)
        except _AlreadySettled:
            return
        self.poke()


    async def _get(self, session_id: str) -> SessionRecord:
        rec = await self.store.sessions.get(session_id)
        if rec is None:
            raise NotFound(f"no session {session_id!r}")
        return rec


def _ends_turn(ev: EventRecord) -> bool:
    """A Stop hook (or a Codex notify that is about this session's turn)."""
    return ev.kind == EventKind.HOOK and ev.payload.get("event") in _TURN_ENDS and \
        not ev.payload.get("ignored")


class _AlreadySettled(Exception):
    """Raised inside the notice's transaction to roll it back: another fact won."""
