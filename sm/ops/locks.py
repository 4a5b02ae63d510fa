"""Lock operations: take, release, list, check."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sm.core import refs
from sm.core.caller import Caller
from sm.core.leases import Leases
from sm.errors import InvalidInput, Refused
from sm.git.run import canonical, toplevel
from sm.ops.authz import Authz
from sm.store import Store
from sm.store.locks import Kind, Lease

MAX_WAIT = 86400.0
MAX_TTL = 30 * 86400.0


@dataclass(frozen=True)
class Held:
    """A lease with its holder's label (what every surface shows)."""

    lease: Lease
    holder: str


@dataclass(frozen=True)
class LockTable:
    items: list[Held]
    waiting: list[dict[str, object]]


class LockOps:
    def __init__(self, store: Store, leases: Leases, authz: Authz,
                 roots: Sequence[str] = ()) -> None:
        self.store = store
        self.leases = leases
        self.authz = authz
        # directories outside any repository where locks may be taken (locks.roots)
        self.roots = tuple(canonical(r, "/") for r in roots)

    async def lock(
        self, caller: Caller, paths: list[str], cwd: str, *, reason: str = "",
        ttl: float | None = None, wait: float = 0.0, workspace: bool = False,
    ) -> list[Held]:
        """Take leases on all the paths or none (``wait``: block up to that many
        seconds, woken by releases); ``workspace``: the whole repository. Raises
        Conflict naming the holders, Deadlock naming the cycle."""
        me = caller.session
        if me is None:
            raise Refused("a lock is held by a session: run sm lock inside one")
        if not 0 <= wait <= MAX_WAIT:  # NaN fails this too
            raise InvalidInput(f"wait {wait}: expected 0 to {MAX_WAIT:g} seconds")
        if ttl is not None and not (math.isfinite(ttl) and 0 < ttl <= MAX_TTL):
            raise InvalidInput(f"ttl {ttl}: expected more than 0 and at most {MAX_TTL:g} "
                               "seconds")
        kind: Kind = "path"
        if workspace:
            top = await asyncio.to_thread(toplevel, cwd)
            if top is None:
                raise InvalidInput(f"{cwd} is not inside a git repository (--workspace)")
            paths, kind = [top], "workspace"
        else:
            paths = await self.leases.canonical(paths, cwd)
            await asyncio.to_thread(self._check_lockable, paths)
        granted = await self.leases.acquire(me, paths, kind=kind, reason=reason, ttl=ttl,
                                            wait=wait)
        return await self._held(granted)

    def _check_lockable(self, paths: list[str]) -> None:
        """Raises Refused for a path outside every git repository and ``locks.roots``
        (``/`` above all: a lock on it would stop every other session's writes)."""
        for path in paths:
            if path != "/" and (toplevel(path) is not None or any(
                    path == root or path.startswith(root.rstrip("/") + "/")
                    for root in self.roots)):
                continue
            raise Refused(f"cannot lock {path}: it is outside every git repository and "
                          "every directory of locks.roots")

    async def unlock(self, caller: Caller, paths: list[str], cwd: str = "/", *,
                     force: bool = False) -> list[Held]:
        """Release the caller's leases (all of them without paths). ``force`` releases
        whoever holds the paths: for the operator, or a session managing the holder."""
        canonical = await self.leases.canonical(paths, cwd) if paths else None
        by = caller.id or "operator"
        if force:
            if canonical is None:
                raise InvalidInput("--force needs the paths to unlock")
            for lease in self.leases.leases():
                if lease.path in canonical:
                    holder = await refs.session(self.store, lease.session_id)
                    if not await self.authz.may_manage(caller, holder):
                        raise Refused(f"session {caller.label} may not break "
                                      f"{holder.label}'s lock on {lease.path}")
            released = await self.leases.force_release(canonical, by)
        else:
            me = caller.session
            if me is None:
                raise InvalidInput("the operator holds no locks; to break one: "
                                   "sm unlock --force PATH")
            released = await self.leases.release(me.id, canonical, by)
        return await self._held(released)

    async def table(self, caller: Caller, session: str | None = None, under: str | None = None
                    ) -> LockTable:
        """Current leases (of one session, or overlapping a path) and who waits."""
        session_id = (await refs.session(self.store, session)).id if session else None
        items = await self._held(self.leases.leases(session_id, under))
        waiting = self.leases.waiting()
        labels = await self.leases.labels(str(w["session_id"]) for w in waiting)
        return LockTable(items, [{**w, "holder": labels[str(w["session_id"])]}
                                 for w in waiting])

    async def check(self, caller: Caller, paths: list[str], cwd: str) -> list[Held]:
        """Which of ``paths`` other sessions hold (the git pre-commit guard asks)."""
        canonical = await self.leases.canonical(paths, cwd) if paths else []
        return await self._held(self.leases.blocking(caller.id or "", canonical))

    async def of_session(self, caller: Caller, ref: str) -> list[Held]:
        rec = await refs.session(self.store, ref)
        return await self._held(self.leases.leases(rec.id))

    async def _held(self, leases: list[Lease]) -> list[Held]:
        labels = await self.leases.labels(lease.session_id for lease in leases)
        return [Held(lease, labels[lease.session_id]) for lease in leases]
