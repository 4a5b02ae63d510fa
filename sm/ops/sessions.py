"""Session operations: spawn, list, show, kill, rename, restore, read the screen, answer
a permission prompt."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sm.core import refs
from sm.core.caller import Caller
from sm.core.delivery import Queue
from sm.core.reminders import parse_delay
from sm.core.sessions import Sessions, SpawnRequest, new_session_id
from sm.errors import Conflict, InvalidInput
from sm.ops.authz import Authz
from sm.store import Store
from sm.store.sessions import SessionRecord
from sm.vocab import SessionState

# (session id, name, requested cwd, worktree options) → the cwd to launch in
PrepareWorktree = Callable[[str, str | None, Path, Mapping[str, Any]], Awaitable[Path]]
Decision = Literal["allow", "always", "deny"]
MAX_LINES = 100000


@dataclass(frozen=True)
class Page:
    items: builtins.list[SessionRecord]
    next: str | None


class SessionOps:
    def __init__(
        self, store: Store, sessions: Sessions, queue: Queue, authz: Authz,
        prepare_worktree: PrepareWorktree,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.queue = queue
        self.authz = authz
        self.prepare_worktree = prepare_worktree

    async def spawn(self, caller: Caller, req: SpawnRequest) -> SessionRecord:
        """Start an agent (in a new worktree when asked); its prompt is its first queued
        message. The caller, if a session, becomes its parent. Raises NotFound
        (provider), InvalidInput, Conflict (name), Unavailable (runtime, binary)."""
        _, name, cwd = self.sessions.check_spawn(req)
        if req.prompt:
            self.queue.check_body(req.prompt)
        sid = new_session_id()
        if req.worktree is not None:
            cwd = await self.prepare_worktree(sid, name, cwd, req.worktree)
        rec = await self.sessions.spawn(req, caller, cwd=cwd, session_id=sid)
        if req.prompt:
            await self.queue.send(caller, [rec], req.prompt)
        return await self.sessions.get(rec.id)

    async def list(
        self, caller: Caller, *, live: bool = False, parent: str | None = None,
        after: str | None = None, limit: int = 500, forgotten: bool = False,
    ) -> Page:
        """Sessions in creation order, cursor-paginated by id, without the forgotten ones
        unless ``forgotten``. Anyone may list."""
        parent_id = (await refs.session(self.store, parent)).id if parent else None
        limit = max(1, min(limit, 1000))
        rows = await self.store.sessions.list(live_only=live, parent_id=parent_id, after=after,
                                              limit=limit + 1, forgotten=forgotten)
        page = rows[:limit]
        return Page(page, page[-1].id if len(rows) > limit else None)

    async def get(self, caller: Caller, ref: str) -> SessionRecord:
        return await refs.session(self.store, ref)

    async def me(self, caller: Caller) -> SessionRecord | None:
        """The calling session as it is now (None for the operator)."""
        return await self.sessions.get(caller.id) if caller.id else None

    async def kill(self, caller: Caller, ref: str) -> SessionRecord:
        """Stop the agent; its record stays (``stopped``). Idempotent."""
        rec = await refs.session(self.store, ref)
        await self.authz.check_manage(caller, rec, "kill")
        return await self.sessions.kill(rec, caller)

    async def forget(self, caller: Caller, refs_: builtins.list[str]
                     ) -> builtins.list[SessionRecord]:
        """Leave dead sessions out of lists (records and history stay; ``sm restore``
        brings one back). Raises Conflict for a live one, Refused for a session the
        caller does not manage — before anything changes."""
        if not refs_:
            raise InvalidInput("name at least one session to forget")
        recs = [await refs.session(self.store, ref) for ref in refs_]
        for rec in recs:
            await self.authz.check_manage(caller, rec, "forget")
        return await self.sessions.forget(recs)

    async def prune(self, caller: Caller, older_than: str | None = None
                    ) -> builtins.list[SessionRecord]:
        """Forget every dead session that ended more than ``older_than`` ago (``7d``,
        ``12h``; none: every dead one). The operator only."""
        await self.authz.check_operator(caller, "pruning sessions")
        age = parse_delay(older_than) if older_than else 0.0
        recs = await self.store.sessions.list(forgotten=False, limit=100_000,
                                              ended_before=self.sessions.clock() - age)
        return await self.sessions.forget(recs)

    async def rename(self, caller: Caller, ref: str, name: str) -> SessionRecord:
        rec = await refs.session(self.store, ref)
        await self.authz.check_manage(caller, rec, "rename")
        return await self.sessions.rename(rec, name)

    async def restore(self, caller: Caller, ref: str) -> SessionRecord:
        """Relaunch a dead agent in its own conversation. Raises Conflict when live."""
        rec = await refs.session(self.store, ref)
        await self.authz.check_manage(caller, rec, "restore")
        return await self.sessions.restore(rec)

    async def output(self, caller: Caller, ref: str, lines: int = 50) -> str:
        """The pane's last ``lines`` lines (a runtime round trip)."""
        if lines < 1:
            raise InvalidInput(f"lines must be at least 1, not {lines}")
        rec = await refs.session(self.store, ref)
        await self.authz.check_read(caller, rec, "screen")
        return await self.sessions.output(rec, min(lines, MAX_LINES))

    async def tail(self, caller: Caller, ref: str, limit: int = 20
                   ) -> builtins.list[dict[str, Any]]:
        """The session's recent tool calls, oldest first."""
        rec = await refs.session(self.store, ref)
        await self.authz.check_read(caller, rec, "tool calls")
        return await self.sessions.tail(rec, max(1, min(limit, 1000)))

    async def answer(self, caller: Caller, ref: str, decision: Decision) -> SessionRecord:
        """Answer the permission prompt the agent shows with its own key (allow once,
        always, deny). Raises Conflict when no prompt is showing."""
        rec = await refs.session(self.store, ref)
        await self.authz.check_manage(caller, rec, "answer a permission prompt of")
        if rec.state != SessionState.WAITING_PERMISSION:
            verb = "deny" if decision == "deny" else "approve"
            raise Conflict(f"session {rec.label} is {rec.state}, not waiting for a "
                           f"permission: nothing to {verb}")
        keys = self.sessions.provider(rec).answer_keys
        if decision not in keys:
            raise InvalidInput(f"unknown answer {decision!r}; expected allow, always or deny")
        await self.sessions.runtime.send_keys(rec.tmux_session, keys[decision])
        return rec

