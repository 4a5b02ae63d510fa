"""Leases: acquire (all-or-nothing, optionally waiting), release, expire.

Every lease is a row written before it is granted; the in-memory table mirrors the
store (the daemon is its only writer) so a PreToolUse check costs no query. Waiters
live in memory with their HTTP request: they are woken by a release or an expiry,
never by polling. One expiry task sleeps until the earliest ``expires_at``.

A lease ends when its holder ends (a state event to exited/error/stopped), when its
TTL runs out, or — for leases the write guard took on its own (``auto``) — when the
holder's task completes (``sm task-complete``, or a ``/clear``) or it stays idle longer
than the grace. Every grant, refusal, wait, release and
expiry is a ``lock`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sm.core.events import EventBus
from sm.core.locks import (
    beneath,
    conflicts,
    describe_cycle,
    describe_holders,
    find_cycle,
    overlaps,
)
from sm.errors import Conflict, Deadlock, InvalidInput, SmError
from sm.git.run import canonical, toplevel
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.locks import Kind, Lease
from sm.store.sessions import SessionRecord
from sm.vocab import DEAD, EventKind, SessionState

log = logging.getLogger("sm.locks")
_ACTIVE = (SessionState.RUNNING, SessionState.WAITING_PERMISSION)


@dataclass
class _Waiter:
    session_id: str
    paths: list[str]
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Leases:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        auto_release_idle: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.auto_release_idle = auto_release_idle
        self.clock = clock
        self._held: dict[str, Lease] = {}
        self._waiters: dict[int, _Waiter] = {}
        self._mutex = asyncio.Lock()
        self._expiry_wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        bus.listen(self._on_event, "leases",
                   (EventKind.STATE, EventKind.TASK_COMPLETE, EventKind.HOOK))

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Load the leases, end those whose holder died while no daemon watched, and
        start the expiry task. Call after the sessions are reconciled."""
        self._held = {lease.id: lease for lease in await self.store.locks.all()}
        dead = []
        for lease in self._held.values():
            rec = await self.store.sessions.get(lease.session_id)
            if rec is None or not rec.is_live:
                dead.append(lease)
        if dead:
            await self._drop(dead, "released", "holder ended while the daemon was down")
        self._task = asyncio.create_task(self._expire_loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- reading -----------------------------------------------------------------------
    def leases(self, session_id: str | None = None, under: str | None = None) -> list[Lease]:
        """Current leases (of one session, or overlapping the path ``under``)."""
        items = [
            lease for lease in self._held.values()
            if (session_id is None or lease.session_id == session_id)
            and (under is None or overlaps(lease.path, under))
        ]
        return sorted(items, key=lambda lease: (lease.acquired_at, lease.path))

    def blocking(self, session_id: str, paths: Iterable[str]) -> list[Lease]:
        """Leases of other sessions that collide with ``paths`` (canonical)."""
        return conflicts(self._held.values(), session_id, paths)

    def waiting(self) -> list[dict[str, Any]]:
        return [{"session_id": w.session_id, "paths": w.paths} for w in self._waiters.values()]

    async def labels(self, ids: Iterable[str]) -> dict[str, str]:
        out = {}
        for sid in set(ids):
            rec = await self.store.sessions.get(sid)
            out[sid] = rec.label if rec else sid
        return out

    # -- acquiring -----------------------------------------------------------------------
    async def canonical(self, paths: list[str], cwd: str) -> list[str]:
        """Canonical paths (realpath from ``cwd``), deduplicated, in order; in a thread."""
        if not paths:
            raise InvalidInput("no path given to lock")
        if not cwd.startswith("/"):
            raise InvalidInput(f"cwd must be absolute, got {cwd!r}")
        resolved = await asyncio.to_thread(lambda: [canonical(p, cwd) for p in paths])
        return list(dict.fromkeys(resolved))

    async def acquire(
        self,
        holder: SessionRecord,
        paths: list[str],
        *,
        kind: Kind = "path",
        reason: str = "",
        ttl: float | None = None,
        wait: float = 0.0,
        auto: bool = False,
    ) -> list[Lease]:
        """Grant leases on all of ``paths`` (canonical) or none. With ``wait`` > 0,
        wait that long for the holders to release. Raises Conflict (naming the holders)
        when refused or timed out, Deadlock when waiting would close a cycle, InvalidInput
        for a bad TTL or a dead holder."""
        if ttl is not None and not (math.isfinite(ttl) and ttl > 0):
            raise InvalidInput(f"ttl must be a positive number of seconds, got {ttl:g}")
        if holder.state in DEAD:
            raise InvalidInput(f"session {holder.label} is {holder.state}; it cannot hold locks")
        repos = await asyncio.to_thread(lambda: {p: toplevel(p) for p in paths})
        deadline = self.clock() + max(0.0, wait)
        waiter: _Waiter | None = None
        try:
            while True:
                events: list[EventRecord | None] = []
                error: SmError | None = None
                granted: list[Lease] | None = None
                async with self._mutex:
                    blockers = self.blocking(holder.id, paths)
                    if not blockers:
                        granted, events = await self._grant(holder, paths, kind, reason,
                                                            ttl, auto, repos)
                    else:
                        error, event = await self._refusal(holder, paths, blockers, wait,
                                                           deadline, auto)
                        events.append(event)
                        if error is None and waiter is None:
                            waiter = _Waiter(holder.id, paths)
                            self._waiters[id(waiter)] = waiter
                        if waiter is not None:
                            waiter.wake.clear()
                await self.bus.publish([e for e in events if e is not None])
                if error is not None:
                    raise error
                if granted is not None:
                    return granted
                assert waiter is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wake.wait(), max(0.0, deadline - self.clock()))
        finally:
            if waiter is not None:
                self._waiters.pop(id(waiter), None)

    async def _refusal(
        self, holder: SessionRecord, paths: list[str], blockers: list[Lease], wait: float,
        deadline: float, auto: bool,
    ) -> tuple[SmError | None, EventRecord | None]:
        """Under the mutex: the error to raise now (deadlock, refused, timed out) and its
        event, or (None, a ``waiting`` event or None) when the caller goes on waiting."""
        label = await self.labels([holder.id, *(b.session_id for b in blockers)])
        held = describe_holders(blockers, label)
        holders = sorted({b.session_id for b in blockers})
        cycle = self._cycle(holder.id, paths) if wait > 0 else None
        if cycle is not None:
            text = describe_cycle(cycle, self._wants(holder.id, paths), self._holds(),
                                  await self.labels(cycle))
            event = await self._log(holder.id, "deadlock", paths, cycle=cycle, detail=text)
            return Deadlock(f"deadlock: {text}"), event
        if deadline - self.clock() <= 0:
            if wait > 0:
                event = await self._log(holder.id, "timeout", paths, detail=held, holders=holders)
                return Conflict(f"timed out after {wait:g}s waiting for {held}"), event
            event = await self._log(holder.id, "refused", paths, auto=auto, detail=held,
                                    holders=holders)
            return Conflict(f"locked: {held}"), event
        if any(w.session_id == holder.id and w.paths == paths for w in self._waiters.values()):
            return None, None
        return None, await self._log(holder.id, "waiting", paths, detail=held, holders=holders)

    def _wants(self, session_id: str, paths: list[str]) -> dict[str, list[str]]:
        wants: dict[str, list[str]] = {}
        for w in self._waiters.values():
            wants.setdefault(w.session_id, []).extend(w.paths)
        wants.setdefault(session_id, []).extend(paths)
        return wants

    def _holds(self) -> dict[str, list[Lease]]:
        holds: dict[str, list[Lease]] = {}
        for lease in self._held.values():
            holds.setdefault(lease.session_id, []).append(lease)
        return holds

    def _cycle(self, session_id: str, paths: list[str]) -> list[str] | None:
        edges: dict[str, set[str]] = {}
        for waiter_id, wanted in self._wants(session_id, paths).items():
            edges[waiter_id] = {b.session_id for b in self.blocking(waiter_id, wanted)}
        return find_cycle(edges, session_id)

    async def _grant(
        self, holder: SessionRecord, paths: list[str], kind: Kind, reason: str,
        ttl: float | None, auto: bool, repos: dict[str, str | None],
    ) -> tuple[list[Lease], list[EventRecord | None]]:
        now = self.clock()
        own = self.leases(holder.id)
        granted: list[Lease] = []
        for path in paths:
            if auto and any(beneath(path, lease.path) for lease in own):
                continue  # already covered by one of the holder's own leases
            granted.append(Lease(
                id=secrets.token_hex(6), path=path, session_id=holder.id, kind=kind,
                reason=reason, auto=auto, acquired_at=now, ttl=ttl,
                expires_at=None if ttl is None else now + ttl, repo=repos.get(path),
            ))
        fresh = granted
        if not fresh:
            return [lease for lease in own if any(beneath(p, lease.path) for p in paths)], []
        async with self.store.write() as conn:
            for lease in fresh:
                await self.store.locks.upsert(conn, lease)
            event = await self.store.events.append(conn, now, holder.id, EventKind.LOCK, {
                "action": "granted", "paths": [lease.path for lease in fresh],
                "kind": kind, "auto": auto, "reason": reason, "ttl": ttl,
            })
        for lease in fresh:
            for old in [o for o in own if o.path == lease.path]:
                self._held.pop(old.id, None)
            self._held[lease.id] = lease
        if ttl is not None:
            self._expiry_wake.set()
        return granted, [event]

    # -- releasing ---------------------------------------------------------------------
    async def release(
        self, session_id: str, paths: list[str] | None, by: str, reason: str = "unlocked",
    ) -> list[Lease]:
        """End the session's leases on ``paths`` (all of them when None). Returns what
        ended; raises InvalidInput when paths were named and the session holds none."""
        held = self.leases(session_id)
        chosen = held if paths is None else [lease for lease in held if lease.path in paths]
        if paths is not None and not chosen:
            mine = ", ".join(lease.path for lease in held) or "nothing"
            raise InvalidInput(f"no lock held on {', '.join(paths)} (held: {mine})")
        await self._drop(chosen, "released", reason, by=by)
        return chosen

    async def force_release(self, paths: list[str], by: str) -> list[Lease]:
        """End every lease on ``paths`` whoever holds it. Raises InvalidInput when none."""
        chosen = [lease for lease in self._held.values() if lease.path in paths]
        if not chosen:
            raise InvalidInput(f"nobody holds a lock on {', '.join(paths)}")
        await self._drop(chosen, "released", "force-unlocked", by=by)
        return chosen

    async def release_auto(self, session_id: str, reason: str) -> list[Lease]:
        """End the leases the write guard took for this session (e.g. its task ended)."""
        chosen = [lease for lease in self.leases(session_id) if lease.auto]
        await self._drop(chosen, "released", reason)
        return chosen

    async def _drop(
        self, leases: list[Lease], action: str, reason: str, by: str | None = None,
    ) -> None:
        if not leases:
            return
        now = self.clock()
        events: list[EventRecord | None] = []
        async with self._mutex:
            leases = [lease for lease in leases if lease.id in self._held]
            if not leases:
                return
            by_holder: dict[str, list[Lease]] = {}
            for lease in leases:
                by_holder.setdefault(lease.session_id, []).append(lease)
            async with self.store.write() as conn:
                await self.store.locks.delete(conn, [lease.id for lease in leases])
                for holder, mine in by_holder.items():
                    events.append(await self.store.events.append(
                        conn, now, holder, EventKind.LOCK, {
                        "action": action, "paths": [lease.path for lease in mine],
                        "reason": reason, "by": by,
                    }))
            for lease in leases:
                self._held.pop(lease.id, None)
            for waiter in self._waiters.values():
                waiter.wake.set()
        await self.bus.publish([e for e in events if e is not None])

    async def _log(
        self, session_id: str, action: str, paths: list[str], **extra: Any
    ) -> EventRecord | None:
        async with self.store.write() as conn:
            return await self.store.events.append(conn, self.clock(), session_id, EventKind.LOCK, {
                "action": action, "paths": paths, **extra,
            })

    # -- expiry ------------------------------------------------------------------------
    async def _expire_loop(self) -> None:
        while True:
            self._expiry_wake.clear()
            now = self.clock()
            due = [lease for lease in self._held.values()
                   if lease.expires_at is not None and lease.expires_at <= now]
            for auto in (False, True):
                chosen = [lease for lease in due if lease.auto is auto]
                why = f"idle longer than {self.auto_release_idle:g}s" if auto else "ttl ran out"
                try:
                    await self._drop(chosen, "expired", why)
                except Exception:  # the loop must outlive one failed write
                    log.exception("lease expiry failed")
            upcoming = [lease.expires_at for lease in self._held.values()
                        if lease.expires_at is not None]
            timeout = max(0.0, min(upcoming) - self.clock()) if upcoming else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._expiry_wake.wait(), timeout)

    async def _set_idle_expiry(self, session_id: str, expires_at: float | None) -> None:
        async with self._mutex:
            auto = [lease for lease in self.leases(session_id)
                    if lease.auto and lease.expires_at != expires_at]
            if not auto:
                return
            async with self.store.write() as conn:
                await self.store.locks.set_expiry(conn, [lease.id for lease in auto], expires_at)
            for lease in auto:
                self._held[lease.id] = _replace_expiry(lease, expires_at)
        self._expiry_wake.set()

    # -- facts from sessions -----------------------------------------------------------
    async def _on_event(self, ev: EventRecord) -> None:
        if ev.session_id is None:
            return
        if ev.kind == EventKind.STATE:
            to = ev.payload.get("to")
            if not any(lease.session_id == ev.session_id for lease in self._held.values()):
                return
            if to in DEAD:
                await self._drop(self.leases(ev.session_id), "released", f"session {to}")
            elif to == SessionState.IDLE:
                await self._set_idle_expiry(ev.session_id, ev.ts + self.auto_release_idle)
            elif to in _ACTIVE:
                await self._set_idle_expiry(ev.session_id, None)
        elif ev.kind == EventKind.TASK_COMPLETE:
            await self.release_auto(ev.session_id, "task complete")
        elif ev.kind == EventKind.HOOK and ev.payload.get("event") == "SessionStart" \
                and (ev.payload.get("data") or {}).get("source") == "clear":
            await self.release_auto(ev.session_id, "conversation cleared (a new task)")


def _replace_expiry(lease: Lease, expires_at: float | None) -> Lease:
    from dataclasses import replace

    return replace(lease, expires_at=expires_at)
