"""Sessions: identity, lifecycle (spawn, kill, rename, restore), and hook facts → state.

Every change is written (session row + event rows, one transaction) before the runtime
is touched or anyone is told. Status is never kept only in memory. What a hook fact
causes beyond the session's own row — a receipt, a notice owed for the turn that ended —
is written by the ``HookConsequence`` callables in the fact's own transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sm import agents
from sm.agents import LaunchSpec, Provider
from sm.core import refs
from sm.core.caller import Caller
from sm.core.events import EventBus, trim
from sm.core.names import check_name
from sm.core.state import Signal, transition
from sm.errors import Conflict, InvalidInput, NotFound, Refused, SmError, Unauthorized
from sm.runtime.base import Runtime
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import EventKind, SessionState

# (connection, the session after the fact, hook name, hook data, the fact's event):
# more facts the hook causes, written in the same transaction
HookConsequence = Callable[
    [Conn, SessionRecord, str, Mapping[str, Any], EventRecord],
    Awaitable[Sequence[EventRecord | None]],
]


@dataclass(frozen=True)
class SpawnRequest:
    provider: str
    prompt: str = ""
    name: str | None = None
    cwd: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    worktree: Mapping[str, Any] | None = None  # branch, base, repo: start in a new worktree


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    return uuid.uuid4().hex[:10]


class Sessions:
    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        providers: Mapping[str, Provider],
        bus: EventBus,
        *,
        sessions_dir: Path,
        hook_command: str,
        base_env: Mapping[str, str],
        agent_env: Mapping[str, str],
        max_prompt_bytes: int,
        consequences: Sequence[HookConsequence] = (),
        size: tuple[int, int] = (200, 50),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.providers = providers
        self.bus = bus
        self.sessions_dir = sessions_dir
        self.hook_command = hook_command
        self.base_env = dict(base_env)
        # what providers may read to prepare a launch (an API key to pre-approve, the
        # user's config dirs); agents themselves get base_env and their launch env
        self.agent_env = {**agent_env, **self.base_env}
        self.max_prompt_bytes = max_prompt_bytes
        self.consequences = tuple(consequences)
        self.size = size
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    # -- identity and lookup --------------------------------------------------------
    async def authenticate(self, token: str, claimed_id: str = "") -> Caller:
        """The caller a token proves (the operator without one). Raises Unauthorized
        for an unknown token and Refused when the claimed session id is not the
        token's own."""
        if not token:
            if claimed_id:
                raise Refused(f"a call claiming session {claimed_id} needs its token")
            return Caller.operator()
        rec = await self.store.sessions.by_token_hash(token_hash(token))
        if rec is None:
            raise Unauthorized("unknown session token")
        if claimed_id and claimed_id != rec.id:
            raise Refused(f"this token belongs to session {rec.id}, not {claimed_id}")
        return Caller.of(rec)

    async def resolve(self, ref: str) -> SessionRecord:
        return await refs.session(self.store, ref)

    async def get(self, session_id: str) -> SessionRecord:
        rec = await self.store.sessions.get(session_id)
        if rec is None:
            raise NotFound(f"no session {session_id!r}")
        return rec

    def provider(self, rec: SessionRecord) -> Provider:
        return agents.get(self.providers, rec.provider)

    # -- lifecycle ------------------------------------------------------------------
    def check_spawn(self, req: SpawnRequest) -> tuple[Provider, str | None, Path]:
        """Validate a spawn before anything is written. Raises NotFound (provider),
        InvalidInput (name, cwd, prompt)."""
        provider = agents.get(self.providers, req.provider)
        name = check_name(req.name) if req.name is not None else None
        size = len(req.prompt.encode("utf-8", "surrogatepass"))
        if size > self.max_prompt_bytes:
            raise InvalidInput(f"prompt is {size} bytes; the limit is {self.max_prompt_bytes} "
                               f"(limits.max_prompt_bytes)")
        cwd = Path(req.cwd or ".").expanduser()
        if not cwd.is_dir():
            raise InvalidInput(f"working directory {cwd} does not exist")
        return provider, name, cwd

    async def spawn(
        self, req: SpawnRequest, caller: Caller, *, cwd: Path, session_id: str | None = None,
    ) -> SessionRecord:
        """Start an agent in ``cwd`` in its own runtime session (the prompt is the
        caller's to queue). Raises as ``check_spawn``, Conflict (name taken),
        Unavailable (runtime or the agent binary missing; the session is then recorded
        as ``error``)."""
        provider, name, _ = self.check_spawn(req)
        sid = session_id or new_session_id()
        token = secrets.token_urlsafe(24)
        session_dir = self.sessions_dir / sid
        session_dir.mkdir(parents=True, exist_ok=True)
        spec = LaunchSpec(
            session_id=sid, cwd=cwd.resolve(), session_dir=session_dir,
            hook_command=self.hook_command, conversation_id=str(uuid.uuid4()),
            options=dict(req.options), env=self.agent_env,
        )
        launch = await asyncio.to_thread(provider.launch, spec)  # writes its files
        now = self.clock()
        rec = SessionRecord(
            id=sid, name=name, provider=provider.name, state=SessionState.STARTING,
            cwd=str(spec.cwd), tmux_session=f"sm-{sid}", parent_id=caller.id,
            options=dict(req.options), created_at=now, updated_at=now,
            conversation_id=spec.conversation_id, token_hash=token_hash(token),
        )
        async with self.store.write() as conn:
            await self.store.sessions.insert(conn, rec)
            event = await self._event(conn, sid, EventKind.SPAWNED, {
                "provider": rec.provider, "name": name, "cwd": rec.cwd,
                "parent_id": rec.parent_id, "argv": launch.argv,
            })
        await self.bus.publish([event])
        env = {**self.base_env, **launch.env, "SM_SESSION_ID": sid, "SM_SESSION_TOKEN": token}
        await self._start_runtime(rec, launch.argv, env)
        return await self.get(sid)

    async def kill(self, rec: SessionRecord, by: Caller) -> SessionRecord:
        """Stop the agent's runtime session; the record stays as ``stopped``."""
        await self.apply(rec.id, Signal("kill"), {"by": by.id or "operator"})
        if await self.runtime.has_session(rec.tmux_session):
            await self.runtime.kill_session(rec.tmux_session)
        return await self.get(rec.id)

    async def rename(self, rec: SessionRecord, name: str) -> SessionRecord:
        """Raises InvalidInput (the name), Conflict (taken by a live session)."""
        check_name(name)
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, rec.id, self.clock(), name=name)
            event = await self._event(conn, rec.id, EventKind.RENAMED,
                                      {"from": rec.name, "to": name})
        await self.bus.publish([event])
        return await self.get(rec.id)

    async def restore(self, rec: SessionRecord) -> SessionRecord:
        """Relaunch a dead agent resuming its own conversation; the original prompt is
        never sent again. Raises Conflict when the session is live."""
        if rec.is_live:
            raise Conflict(f"session {rec.label} is {rec.state}; only a dead session is restored")
        provider = agents.get(self.providers, rec.provider)
        # an agent that died before its first prompt has no conversation to resume
        has_history = bool(rec.transcript_path) and Path(str(rec.transcript_path)).exists()
        spec = LaunchSpec(
            session_id=rec.id, cwd=Path(rec.cwd), session_dir=self.sessions_dir / rec.id,
            hook_command=self.hook_command,
            conversation_id=rec.conversation_id or str(uuid.uuid4()),
            resume=has_history, options=rec.options, env=self.agent_env,
        )
        spec.session_dir.mkdir(parents=True, exist_ok=True)
        launch = await asyncio.to_thread(provider.launch, spec)  # writes its files
        token = secrets.token_urlsafe(24)
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, rec.id, self.clock(),
                                             token_hash=token_hash(token))
        await self.apply(rec.id, Signal("restore"), {"conversation_id": rec.conversation_id})
        if await self.runtime.has_session(rec.tmux_session):
            await self.runtime.kill_session(rec.tmux_session)
        env = {**self.base_env, **launch.env, "SM_SESSION_ID": rec.id, "SM_SESSION_TOKEN": token}
        await self._start_runtime(rec, launch.argv, env)
        return await self.get(rec.id)

    async def _start_runtime(self, rec: SessionRecord, argv: list[str], env: dict[str, str]
                             ) -> None:
        try:
            await self.runtime.new_session(
                rec.tmux_session, argv, rec.cwd, env, width=self.size[0], height=self.size[1]
            )
        except SmError as exc:
            await self.apply(rec.id, Signal("pane-died", "1"), {"error": exc.message})
            raise

    # -- facts from the agent and from the runtime -----------------------------------------
    async def record_hook(
        self, session: SessionRecord, event: str, payload: dict[str, Any], hook_id: str = ""
    ) -> SessionRecord | None:
        """Apply one hook fact (idempotent by ``hook_id``) and what it causes. Returns
        the session after it, or None for a hook already applied."""
        rec = await self.get(session.id)
        provider = self.provider(rec)
        ignored = ""
        if event in provider.checked_turn_ends:
            ignored = provider.ignored_turn_end(event, payload, rec.conversation_id,
                                                await self._ended_turns(rec.id))
        detail = str(payload.get("notification_type") or payload.get("reason") or "")
        fields: dict[str, Any] = {}
        conv = payload.get("session_id")
        if conv and event != "SessionEnd":
            fields["conversation_id"] = str(conv)
        if payload.get("transcript_path"):
            fields["transcript_path"] = str(payload["transcript_path"])
        if event in ("Stop", "agent-turn-complete") and not ignored:
            message = payload.get("last_assistant_message", payload.get("last-assistant-message"))
            if message is not None:
                fields["last_message"] = str(message)
        applied = await self.apply(
            rec.id, Signal(event, ignored or detail), {"hook": event}, fields=fields,
            hook=(event, trim(payload)), dedupe_key=f"hook:{hook_id}" if hook_id else None,
            note={"ignored": ignored} if ignored else None,
        )
        return None if applied is None else await self.get(rec.id)

    async def _ended_turns(self, session_id: str) -> frozenset[str]:
        recent = await self.store.events.list(session_id=session_id, kinds=(EventKind.HOOK,),
                                              limit=20, newest=True)
        return frozenset(
            str((ev.payload.get("data") or {}).get("turn_id"))
            for ev in recent if ev.payload.get("event") in ("Stop", "Interrupt")
        )

    async def pane_died(self, tmux_session: str) -> None:
        """The runtime says a pane died: check it there, then record the exit."""
        rec = await self.store.sessions.by_tmux_session(tmux_session)
        if rec is None or not rec.is_live:
            return
        try:
            pane = await self.runtime.pane(tmux_session)
        except NotFound:
            return
        if pane.dead:
            status = pane.exit_status
            await self.apply(rec.id, Signal("pane-died", str(status)), {"tmux": "pane-died"},
                             fields={"exit_status": status})

    async def reconcile(self) -> None:
        """After a daemon start: sessions whose pane died or vanished while no daemon
        was watching are recorded as such."""
        panes = {p.session: p for p in await self.runtime.panes()}
        for rec in await self.store.sessions.list(live_only=True):
            pane = panes.get(rec.tmux_session)
            if pane is None:
                await self.apply(rec.id, Signal("pane-died", "0"),
                                 {"reconcile": "tmux session gone"})
            elif pane.dead:
                status = pane.exit_status
                await self.apply(rec.id, Signal("pane-died", str(status)),
                                 {"reconcile": "pane dead"}, fields={"exit_status": status})

    async def apply(
        self,
        session_id: str,
        signal: Signal,
        evidence: Mapping[str, Any],
        *,
        fields: dict[str, Any] | None = None,
        hook: tuple[str, Any] | None = None,
        dedupe_key: str | None = None,
        note: Mapping[str, Any] | None = None,
    ) -> list[EventRecord] | None:
        """Record a signal (and its hook fact, with ``note`` merged in), the state
        change it causes and the hook's consequences, in one transaction; publish after
        commit. Returns None for a duplicate hook."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            rec = await self.get(session_id)
            new = transition(rec.state, signal)
            events: list[EventRecord | None] = []
            async with self.store.write() as conn:
                fact = None
                if hook is not None:
                    fact = await self._event(
                        conn, session_id, EventKind.HOOK,
                        {"event": hook[0], "state": rec.state, "data": hook[1], **(note or {})},
                        dedupe_key,
                    )
                    if fact is None:
                        return None
                    events.append(fact)
                    evidence = {**evidence, "seq": fact.seq}
                changes = dict(fields or {})
                if new is not None:
                    changes["state"] = new
                if changes:
                    await self.store.sessions.update(conn, session_id, self.clock(), **changes)
                if new is not None:
                    events.append(await self._event(conn, session_id, EventKind.STATE, {
                        "from": rec.state, "to": new, "signal": signal.kind,
                        "detail": signal.detail, "evidence": dict(evidence),
                    }))
                if fact is not None and hook is not None and not (note or {}).get("ignored"):
                    after = await self.get(session_id)
                    for consequence in self.consequences:
                        events.extend(await consequence(conn, after, hook[0], hook[1], fact))
        await self.bus.publish(events)
        return [e for e in events if e is not None]

    # -- reading ----------------------------------------------------------------------
    async def output(self, rec: SessionRecord, lines: int) -> str:
        """The pane's last ``lines`` lines (a runtime round trip)."""
        if not await self.runtime.has_session(rec.tmux_session):
            raise NotFound(f"session {rec.label} has no tmux pane any more ({rec.state})")
        return await self.runtime.capture(rec.tmux_session, lines)

    async def tail(self, rec: SessionRecord, limit: int) -> list[dict[str, Any]]:
        """The session's recent tool actions, oldest first, from its hook events."""
        events = await self.store.events.list(
            session_id=rec.id, kinds=(EventKind.HOOK,), limit=limit * 4, newest=True
        )
        actions = []
        for ev in events:
            data = ev.payload.get("data") or {}
            if ev.payload.get("event") == "PreToolUse":
                actions.append({
                    "seq": ev.seq, "ts": ev.ts, "tool": data.get("tool_name"),
                    "input": data.get("tool_input"),
                })
        return actions[-limit:]

    async def _event(
        self, conn: Conn, session_id: str | None, kind: EventKind, payload: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> EventRecord | None:
        return await self.store.events.append(
            conn, self.clock(), session_id, kind, payload, dedupe_key
        )
