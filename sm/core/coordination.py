"""Coordination: how a team of sessions reports and is directed, on top of the queue.

    status         a session's one-line status (``sessions.status_text``, event ``status``)
    task-complete  tell the parent, end the session's reminders (event ``task_complete``)
    turn-complete  an explicit turn end (event ``turn_complete``)
    dispatch       expand a role template, clear the child, send it the text with
                   notify-on-stop, record its role, arm its status nudges
    em             mark the caller the orchestrator: nudges on its children, a digest
    children       a session's children (optionally the whole subtree)
    others         live sessions sharing the caller's repository (git toplevel)

``Coordination`` also owns the parts it builds on (reminders, waits, conversations and
the scheduler that drives the timed ones) and starts and stops them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sm.config import RemindSettings
from sm.core import dispatch as templates
from sm.core.asks import Asks
from sm.core.caller import Caller
from sm.core.conversations import Conversations
from sm.core.delivery import Queue, clean_body
from sm.core.events import EventBus
from sm.core.reminders import ALL_KINDS, Reminders
from sm.core.scheduler import Scheduler
from sm.core.waits import Waits
from sm.errors import Conflict, InvalidInput, NotFound
from sm.store import Store
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, EventKind

ORCHESTRATOR = "orchestrator"  # the role ``sm em`` gives
MAX_STATUS = 500


@dataclass(frozen=True)
class Dispatched:
    text: str
    role: str
    target: SessionRecord | None  # None for a dry run
    message: MessageRecord | None
    clear: MessageRecord | None


class Coordination:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        bus: EventBus,
        settings: RemindSettings,
        *,
        home: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self.bus = bus
        self.home = home
        self.clock = clock
        self.scheduler = Scheduler(clock=clock)
        poke = self.scheduler.poke
        self.reminders = Reminders(store, queue, bus, settings, poke=poke, clock=clock)
        self.waits = Waits(store, queue, bus, poke=poke, clock=clock)
        self.conversations = Conversations(store, queue, self.reminders, bus, clock=clock)
        self.asks = Asks(store, bus, poke=poke, clock=clock)
        self.scheduler.sources = [self.reminders, self.waits, self.asks]

    async def start(self) -> None:
        """After a daemon start (and after delivery resumed): settle watchers whose
        target settled meanwhile, then fire whatever fell due while no daemon ran."""
        await self.waits.start()
        self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.close()

    # -- reports from a session ---------------------------------------------------------
    async def set_status(self, caller: Caller, text: str) -> SessionRecord:
        """Set the caller's status line; its status nudges count from now. Raises
        InvalidInput without a session, for an empty or over-long text."""
        me = caller.require_session("sm status TEXT sets the calling session's status")
        text = " ".join(clean_body(text).split())
        if not text:
            raise InvalidInput("the status text is empty")
        if len(text) > MAX_STATUS:
            raise InvalidInput(f"status is {len(text)} characters; the limit is {MAX_STATUS}")
        await self._update(me.id, EventKind.STATUS, {"text": text}, status_text=text)
        await self.reminders.touch_status(me.id)
        return await self._get(me.id)

    async def task_complete(self, caller: Caller, text: str) -> MessageRecord | None:
        """End the caller's reminders, set its status, and tell its parent
        ``[sm] NAME task complete: TEXT`` (from the caller, so the parent's
        notify-on-stop does not repeat it). Returns that message (None: no live parent)."""
        me = caller.require_session("sm task-complete reports the calling session's task")
        text = " ".join(clean_body(text).split())
        await self.reminders.end(me.id, ALL_KINDS)
        status = f"task complete: {text}" if text else "task complete"
        await self._update(me.id, EventKind.TASK_COMPLETE, {"text": text, "parent": me.parent_id},
                           status_text=status[:MAX_STATUS])
        parent = await self.store.sessions.get(me.parent_id) if me.parent_id else None
        if parent is None or not parent.is_live:
            return None
        body = f"[sm] {me.label} {status}"
        return (await self.queue.send(caller, [parent], body, DeliveryMode.SEQUENTIAL,
                                      notify_on_stop=False))[0]

    async def turn_complete(self, caller: Caller) -> None:
        """Record that the caller's turn ended (an explicit fact; the state machine
        still follows the agent's own hooks)."""
        me = caller.require_session("sm turn-complete reports the calling session's turn")
        await self._update(me.id, EventKind.TURN_COMPLETE,
                           {"conversation_id": me.conversation_id})

    # -- directing children ---------------------------------------------------------------
    async def expand(
        self, caller: Caller, agent: str, target: SessionRecord | None, role: str,
        params: Mapping[str, str], cwd: str,
    ) -> tuple[str, templates.Role]:
        """The text of ``role``'s template for ``agent``. Raises InvalidInput (role,
        parameters, template)."""
        base = Path(cwd or (caller.session.cwd if caller.session else "") or ".")
        files = await asyncio.to_thread(templates.template_files, base, self.home)
        spec = await asyncio.to_thread(templates.find_role, role, files)
        builtins = {"agent": target.label if target else agent, "parent": caller.label,
                    "role": role}
        return templates.expand(spec, params, builtins), spec

    async def dispatch(
        self,
        caller: Caller,
        target: SessionRecord,
        role: str,
        text: str,
        source: str,
        *,
        clear_command: str | None,
        mode: DeliveryMode = DeliveryMode.SEQUENTIAL,
    ) -> Dispatched:
        """Clear the agent (with ``clear_command``; None: no clear), send it ``text``
        with notify-on-stop, record its role and arm its status nudges. Raises Conflict
        when the target is dead."""
        if not target.is_live:
            raise Conflict(f"session {target.label} is {target.state}; dispatch needs a live one")
        if clear_command is not None:
            cleared = await self.conversations.clear(caller, target, clear_command, text, mode,
                                                     True)
            message, clear_item = cleared.prompt, cleared.clear
        else:
            message = (await self.queue.send(caller, [target], text, mode,
                                             notify_on_stop=True))[0]
            clear_item = None
        await self._update(target.id, EventKind.DISPATCHED, {
            "role": role, "by": caller.id, "message": message.id if message else None,
            "source": source,
        }, role=role)
        await self.reminders.arm_status(target, caller)
        return Dispatched(text, role, await self._get(target.id), message, clear_item)

    async def em(self, caller: Caller) -> list[SessionRecord]:
        """Make the caller the orchestrator: record the role, arm status nudges on each
        live child and the caller's periodic digest. Returns the children armed."""
        me = caller.require_session("sm em prepares the calling session as the orchestrator")
        me = await self._get(me.id)
        children = await self.store.sessions.list(live_only=True, parent_id=me.id)
        for child in children:
            await self.reminders.arm_status(child, caller)
        await self.reminders.arm_digest(me)
        await self._update(me.id, EventKind.ORCHESTRATOR, {"children": [c.id for c in children]},
                           role=ORCHESTRATOR)
        return children

    # -- views ------------------------------------------------------------------------------
    async def children(self, root: SessionRecord, recursive: bool = False,
                       live_only: bool = True) -> list[SessionRecord]:
        """The session's children in creation order (depth-first with ``recursive``)."""
        out: list[SessionRecord] = []

        async def walk(parent_id: str) -> None:
            for child in await self.store.sessions.list(parent_id=parent_id):
                if child.is_live or not live_only:
                    out.append(child)
                if recursive:
                    await walk(child.id)

        await walk(root.id)
        return out

    async def others(self, caller: Caller, cwd: str) -> tuple[str, list[SessionRecord]]:
        """The repository of the caller (its git toplevel, else its directory) and the
        other live sessions working in it."""
        base = caller.session.cwd if caller.session else cwd
        if not base:
            raise InvalidInput("which repository: run from a session or give a directory")
        live = [r for r in await self.store.sessions.list(live_only=True) if r.id != caller.id]
        roots = await asyncio.to_thread(_repo_roots, [base, *(r.cwd for r in live)])
        mine = roots[0]
        return mine, [r for r, root in zip(live, roots[1:], strict=True) if root == mine]

    async def _update(self, session_id: str, kind: EventKind, payload: dict[str, object],
                      **fields: object) -> None:
        now = self.clock()
        async with self.store.write() as conn:
            if fields:
                await self.store.sessions.update(conn, session_id, now, **fields)
            event = await self.store.events.append(conn, now, session_id, kind, payload)
        await self.bus.publish([event])

    async def _get(self, session_id: str) -> SessionRecord:
        rec = await self.store.sessions.get(session_id)
        if rec is None:
            raise NotFound(f"no session {session_id!r}")
        return rec


def _repo_roots(paths: list[str]) -> list[str]:
    """Each path's git toplevel (the nearest ancestor with ``.git``), else the path."""
    cache: dict[str, str] = {}
    out = []
    for raw in paths:
        if "\x00" in raw:
            continue  # no file has such a name
        path = Path(os.path.expanduser(raw)).resolve()
        key = str(path)
        if key not in cache:
            cache[key] = next(
                (str(p) for p in (path, *path.parents) if (p / ".git").exists()), key)
        out.append(cache[key])
    return out
