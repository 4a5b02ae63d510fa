"""Coordination operations: wait, status, task/turn complete, clear, handoff, dispatch,
em, children, others, reminders."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from sm.core import refs
from sm.core.caller import Caller
from sm.core.conversations import Cleared
from sm.core.coordination import Coordination, Dispatched
from sm.core.delivery import mode_of
from sm.core.sessions import Sessions
from sm.core.waits import Outcome
from sm.errors import InvalidInput, NotFound, Refused
from sm.ops.authz import Authz
from sm.store import Store
from sm.store.messages import MessageRecord
from sm.store.reminders import ReminderRecord
from sm.store.sessions import SessionRecord
from sm.store.watchers import WatcherRecord

MAX_WAIT = 30.0  # longest a single blocking wait holds a request; the CLI asks again


@dataclass(frozen=True)
class Waited:
    session: SessionRecord
    outcome: Outcome
    undelivered: int


class CoordinationOps:
    def __init__(
        self, store: Store, sessions: Sessions, coordination: Coordination, authz: Authz,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.core = coordination
        self.authz = authz

    # -- waiting --------------------------------------------------------------------
    async def wait(self, caller: Caller, ref: str, timeout: float = MAX_WAIT) -> Waited:
        """Block until the target is idle with nothing undelivered, or dead, for at most
        ``timeout`` seconds (capped at MAX_WAIT: ask again). Changes nothing."""
        if math.isnan(timeout):
            raise InvalidInput(f"invalid timeout {timeout}: expected 0 or more seconds")
        target = await refs.session(self.store, ref)
        rec, outcome = await self.core.waits.wait(target, min(max(timeout, 0.0), MAX_WAIT))
        return Waited(rec, outcome, await self.store.messages.open_count(rec.id))

    async def watch(self, caller: Caller, ref: str, timeout: float) -> WatcherRecord:
        """Answer at once; tell the calling session later, as a message, when the target
        settles or ``timeout`` passes."""
        target = await refs.session(self.store, ref)
        return await self.core.waits.watch(caller, target, timeout)

    # -- reports from a session -------------------------------------------------------
    async def set_status(self, caller: Caller, text: str) -> SessionRecord:
        return await self.core.set_status(caller, text)

    async def task_complete(self, caller: Caller, text: str) -> MessageRecord | None:
        return await self.core.task_complete(caller, text)

    async def turn_complete(self, caller: Caller) -> None:
        await self.core.turn_complete(caller)

    # -- directing --------------------------------------------------------------------
    async def clear(self, caller: Caller, ref: str, prompt: str = "", mode: str = "sequential"
                    ) -> Cleared:
        """Queue a clear of the session's conversation (then ``prompt``). The operator,
        the session itself or its ancestors only."""
        target = await refs.session(self.store, ref)
        await self.authz.check_manage(caller, target, "clear")
        command = self.sessions.provider(target).clear_command
        return await self.core.conversations.clear(caller, target, command, prompt,
                                                   mode_of(mode))

    async def handoff(self, caller: Caller, prompt: str) -> Cleared:
        me = caller.require_session("sm handoff hands over the calling session")
        command = self.sessions.provider(me).clear_command
        return await self.core.conversations.handoff(caller, command, prompt)

    async def dispatch(
        self, caller: Caller, agent: str, role: str, params: Mapping[str, str], cwd: str = "",
        *, dry_run: bool = False, clear: bool = True, mode: str = "sequential",
    ) -> Dispatched:
        """Expand a role template for an agent and (unless ``dry_run``) clear it, send it
        the text with notify-on-stop, record its role, arm its status nudges."""
        kind = mode_of(mode)
        try:
            target: SessionRecord | None = await refs.session(self.store, agent)
        except NotFound:
            if not dry_run:
                raise
            target = None
        if target is not None and not dry_run:  # who may, before anything is expanded
            await self.authz.check_manage(caller, target, "dispatch to")
        text, spec = await self.core.expand(caller, agent, target, role, params, cwd)
        if dry_run or target is None:
            return Dispatched(text, role, None, None, None)
        command = self.sessions.provider(target).clear_command if clear else None
        if clear and not command:
            raise InvalidInput(f"session {target.label} ({target.provider}) has no clear "
                               "command; dispatch with --no-clear")
        return await self.core.dispatch(caller, target, role, text, spec.source,
                                        clear_command=command, mode=kind)

    async def em(self, caller: Caller, name: str | None = None
                 ) -> tuple[SessionRecord, list[SessionRecord]]:
        """Make the calling session the orchestrator (renamed to ``name`` if given)."""
        me = caller.require_session("sm em prepares the calling session as the orchestrator")
        if name:
            me = await self.sessions.rename(me, name)
        children = await self.core.em(Caller.of(me))
        return await self.sessions.get(me.id), children

    # -- views -------------------------------------------------------------------------
    async def children(self, caller: Caller, ref: str, recursive: bool = False,
                       live_only: bool = True) -> list[SessionRecord]:
        root = await refs.session(self.store, ref)
        return await self.core.children(root, recursive, live_only)

    async def others(self, caller: Caller, cwd: str = "") -> tuple[str, list[SessionRecord]]:
        return await self.core.others(caller, cwd)

    # -- reminders ----------------------------------------------------------------------
    async def remind(self, caller: Caller, delay: str, text: str, recurring: bool = False
                     ) -> ReminderRecord:
        """Arm a reminder delivered to the calling session (important) after ``delay``."""
        return await self.core.reminders.add(caller, delay, text, recurring)

    async def reminders(self, caller: Caller) -> list[ReminderRecord]:
        """The caller's armed reminders (every session's for the operator)."""
        return await self.core.reminders.armed(caller.id)

    async def cancel_reminder(self, caller: Caller, ref: str) -> ReminderRecord:
        """Cancel an armed reminder: the operator, its session, or an ancestor of it."""
        rec = await self.core.reminders.find(ref)
        owner = await self.sessions.get(rec.session_id)
        if not await self.authz.may_manage(caller, owner):
            raise Refused(f"reminder {rec.id} belongs to another session")
        return await self.core.reminders.cancel(rec)
