"""``Agents`` (what the job queue needs from sessions) over sm's sessions, the message
queue and pull requests. The queue touches sessions only through this module.

Sessions start through the spawn operation (given as ``spawn``: the same checks and
worktree as ``sm spawn``) as sm itself, so they have no parent; text is accepted into
the durable queue as any message is, from the sender ``sm job``.

Facts: a Stop hook (or a Codex turn-complete notice about the session's own turn) is a
``turn_end``; a state change to exited, error or stopped is an ``exit``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sm.core.caller import Caller
from sm.core.delivery import Queue
from sm.core.events import EventBus
from sm.core.job_agents import AgentFact, AgentInfo, AgentSpec, FactSink, Published
from sm.core.sessions import Sessions, SpawnRequest
from sm.errors import SmError
from sm.git.prs import Prs
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DEAD, DeliveryMode, EventKind, MessageState, SessionState

SENDER = "sm job"  # the sender label of what the queue types into a job's session
SM = Caller.operator("sm")  # who starts and stops job sessions
_TURN_ENDS = ("Stop", "agent-turn-complete")

# the spawn operation: (caller, request) → the new session
Spawn = Callable[[Caller, SpawnRequest], Awaitable[SessionRecord]]


class SessionAgents:
    def __init__(
        self, store: Store, bus: EventBus, sessions: Sessions, queue: Queue, prs: Prs,
        spawn: Spawn,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.queue = queue
        self.prs = prs
        self._spawn = spawn
        self._sinks: list[FactSink] = []
        bus.listen(self._on_event, "job-agents", (EventKind.HOOK, EventKind.STATE))

    def subscribe(self, sink: FactSink) -> None:
        self._sinks.append(sink)

    async def spawn(self, spec: AgentSpec) -> AgentInfo:
        req = SpawnRequest(provider=spec.provider, name=spec.name, cwd=spec.cwd,
                           options=dict(spec.options),
                           worktree={} if spec.worktree else None)
        return await self._info(await self._spawn(SM, req))

    async def send(self, session_id: str, text: str) -> None:
        target = await self.sessions.get(session_id)
        await self.queue.accept(None, SENDER, target, self.queue.check_body(text),
                                DeliveryMode.SEQUENTIAL)

    async def kill(self, session_id: str) -> None:
        rec = await self.store.sessions.get(session_id)
        if rec is not None and rec.is_live:
            await self.sessions.kill(rec, SM)

    async def get(self, session_id: str) -> AgentInfo | None:
        rec = await self.store.sessions.get(session_id)
        return await self._info(rec) if rec is not None else None

    async def find(self, name: str) -> AgentInfo | None:
        found = [r for r in await self.store.sessions.find(name) if r.name == name]
        return await self._info(found[0]) if found else None

    async def publish(self, session_id: str, title: str, body: str, open_pr: bool
                      ) -> Published:
        rec = await self.store.sessions.get(session_id)
        if rec is None:
            return Published(None, None, f"no session {session_id}")
        try:
            out = await self.prs.open(rec, title=title or None, body=body or None,
                                      pull_request=open_pr)
        except SmError as exc:
            return Published(None, None, exc.message)
        return Published(out["branch"], out["pr_url"], out["note"])

    async def _info(self, rec: SessionRecord) -> AgentInfo:
        messages = await self.store.messages.list(target_id=rec.id, limit=1000, newest=True)
        open_ = any(m.state in (MessageState.QUEUED, MessageState.DELIVERING) for m in messages)
        delivered = any(m.state == MessageState.DELIVERED for m in messages)
        return AgentInfo(
            id=rec.id, name=rec.name, cwd=rec.cwd, live=rec.is_live, state=rec.state,
            last_message=rec.last_message, prompted=bool(messages),
            settled=rec.state == SessionState.IDLE and delivered and not open_,
            exit_status=rec.exit_status,
        )

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.session_id is None or not self._sinks:
            return
        fact = _fact(ev)
        if fact is not None:
            for sink in self._sinks:
                await sink(fact)


def _fact(ev: EventRecord) -> AgentFact | None:
    payload: dict[str, Any] = ev.payload
    assert ev.session_id is not None
    if ev.kind == EventKind.HOOK and payload.get("event") in _TURN_ENDS \
            and not payload.get("ignored"):
        return AgentFact(ev.session_id, "turn_end")
    if ev.kind == EventKind.STATE and payload.get("to") in DEAD:
        status = f" (exit status {payload['detail']})" if payload.get("detail") else ""
        return AgentFact(ev.session_id, "exit", f"{payload['to']}{status}")
    return None
