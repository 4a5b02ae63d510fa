"""Who calls: the kernel's word first, the session token second.

A call on the Unix socket comes with its peer's pid (``SO_PEERCRED``). When that process
descends from a live session's pane — by its parents, or by the kernel session
(``setsid``) it belongs to — the caller *is* that session, whatever token it sends or
drops; a token of another session is refused. A caller outside every session is the
session its token proves, or without one the operator.

The kernel's word holds against a confused agent and against one that drops or swaps its
token. It is not a sandbox: a process that calls ``setsid`` and leaves its parents
escapes the tree, and same-uid processes can read each other's files and memory
(docs/security.md).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Protocol

from sm.core.caller import Caller
from sm.errors import Refused, Unauthorized, Unavailable
from sm.runtime.base import Runtime
from sm.runtime.procs import MAX_DEPTH, Proc
from sm.store import Store
from sm.store.sessions import SessionRecord

_MISSES = 1024  # kernel sessions known to be no pane's, remembered
_PLACED = 4096  # callers placed (in a session or none), remembered


class ProcReader(Protocol):
    def stat(self, pid: int) -> Proc | None: ...


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Identity:
    """The pane of every live session (pid and start time), and the rules above."""

    def __init__(self, store: Store, runtime: Runtime, procs: ProcReader) -> None:
        self.store = store
        self.runtime = runtime
        self.procs = procs
        self._panes: dict[int, tuple[str, int]] = {}  # pane pid → (session id, start)
        self._misses: OrderedDict[tuple[int, int], None] = OrderedDict()
        # (pid, start, parent, kernel session) → the session id it was placed in (None:
        # none), while the panes known stay the same
        self._placed: OrderedDict[tuple[int, int, int, int], str | None] = OrderedDict()

    def watch(self, session_id: str, pane_pid: int) -> None:
        """Remember a session's pane process (after a spawn, a restore, a reconcile)."""
        proc = self.procs.stat(pane_pid) if pane_pid > 0 else None
        if proc is not None:
            self._panes[pane_pid] = (session_id, proc.start)
            self._placed.clear()

    async def refresh(self) -> None:
        """Learn every live session's pane from the runtime (one round trip; none when no
        session is live). Without tmux (not installed, not started) there is no pane to
        learn: nobody is placed in a session by the kernel then."""
        by_name = {rec.tmux_session: rec.id
                   for rec in await self.store.sessions.list(live_only=True)}
        self._panes.clear()
        self._placed.clear()
        if not by_name:
            return
        try:
            panes = await self.runtime.panes()
        except Unavailable:
            return
        for pane in panes:
            if pane.session in by_name and not pane.dead:
                self.watch(by_name[pane.session], pane.pid)

    async def session_of(self, pid: int) -> SessionRecord | None:
        """The live session whose pane ``pid`` descends from, or None. A caller seen
        before (the same process, parent and kernel session: one read of ``/proc``) is
        placed as it was until the panes known change."""
        proc = self.procs.stat(pid)
        if proc is None:
            return None
        key = (proc.pid, proc.start, proc.ppid, proc.sid)
        if key in self._placed:
            self._placed.move_to_end(key)
            found = self._placed[key]
        else:
            found = await self._place(proc)
            self._placed[key] = found
            while len(self._placed) > _PLACED:
                self._placed.popitem(last=False)
        if found is None:
            return None
        rec = await self.store.sessions.get(found)
        return rec if rec is not None and rec.is_live else None

    async def _place(self, proc: Proc) -> str | None:
        """The session whose pane ``proc`` descends from (live or not), or None."""
        found = self._match(proc)
        if found is None:
            # a pane younger than what sm knows (its agent called before the spawn
            # returned), or a process outside: ask the runtime once per kernel session
            leader = self.procs.stat(proc.sid)
            key = (proc.sid, leader.start if leader is not None else 0)
            if key in self._misses:
                return None
            await self.refresh()
            found = self._match(proc)
            if found is None:
                self._misses[key] = None
                while len(self._misses) > _MISSES:
                    self._misses.popitem(last=False)
        return found

    def _match(self, proc: Proc | None) -> str | None:
        """Walk ``proc`` and its parents (up to init, at most MAX_DEPTH) to the first
        that is, or leads the kernel session of, a known pane."""
        depth = 0
        while proc is not None and depth < MAX_DEPTH:
            known = self._panes.get(proc.pid)
            if known is not None and known[1] == proc.start:
                return known[0]
            # a pane's process leads its kernel session: its descendants keep the id
            # even when orphaned, and the kernel never reuses it while one of them
            # lives; the leader itself is the pane's process or gone
            known = self._panes.get(proc.sid)
            if known is not None:
                leader = self.procs.stat(proc.sid)
                if leader is None or leader.start == known[1]:
                    return known[0]
            if proc.ppid <= 1:
                return None
            proc = self.procs.stat(proc.ppid)
            depth += 1
        return None

    async def authenticate(self, peer: int | None, token: str = "", claimed_id: str = ""
                           ) -> Caller:
        """The caller: the session the kernel places ``peer`` in, else the session
        ``token`` proves, else the operator. Raises Unauthorized for an unknown token,
        Refused for a token or a claimed id that disagrees with the kernel or the token."""
        kernel = await self.session_of(peer) if peer else None
        hashed = token_hash(token) if token else ""
        if kernel is not None:
            if token and hashed != kernel.token_hash:  # not its own token: whose, then?
                other = await self.store.sessions.by_token_hash(hashed)
                if other is None:
                    raise Unauthorized("unknown session token")
                raise Refused(f"this token belongs to session {other.id}, but the call "
                              f"comes from inside session {kernel.id}")
            if claimed_id and claimed_id != kernel.id:
                raise Refused(f"a call from inside session {kernel.id} cannot speak for "
                              f"session {claimed_id}")
            return Caller.of(kernel)
        by_token = None
        if token:
            by_token = await self.store.sessions.by_token_hash(hashed)
            if by_token is None:
                raise Unauthorized("unknown session token")
        if by_token is None:
            if claimed_id:
                raise Refused(f"a call claiming session {claimed_id} needs its token")
            return Caller.operator()
        if claimed_id and claimed_id != by_token.id:
            raise Refused(f"this token belongs to session {by_token.id}, not {claimed_id}")
        return Caller.of(by_token)
