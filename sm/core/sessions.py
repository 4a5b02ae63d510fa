"""Sessions: spawn, hooks → state, kill, rename, restore, reconcile.

Every change is written (session row + event rows, one transaction) before tmux is
touched or anyone is told. Status is never kept only in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sm import agents
from sm.agents import LaunchSpec, Provider
from sm.core.events import EventBus, trim
from sm.core.names import check_name
from sm.core.state import Signal, State, transition
from sm.errors import Conflict, InvalidInput, NotFound, Refused, SmError, Unauthorized
from sm.runtime.base import Runtime
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord

Caller = SessionRecord | None  # None: the operator (a call without a session token)
PreToolCheck = Callable[[SessionRecord, dict[str, Any]], Awaitable[dict[str, Any] | None]]
PromptSink = Callable[[SessionRecord, str, Caller], Awaitable[Any]]
NOTIFY = "agent-turn-complete"  # Codex's notify program, run once per finished turn
# (session id, name, requested cwd, worktree options) → the cwd to launch in
CwdPreparer = Callable[[str, str | None, Path, Mapping[str, Any]], Awaitable[Path]]


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


class Sessions:
    def __init__(
        self,
        store: Store,
        tmux: Runtime,
        providers: dict[str, Provider],
        bus: EventBus,
        *,
        sessions_dir: Path,
        hook_command: str,
        base_env: Mapping[str, str],
        max_prompt_bytes: int,
        size: tuple[int, int] = (200, 50),
        inherited_env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.tmux = tmux
        self.providers = providers
        self.bus = bus
        self.sessions_dir = sessions_dir
        self.hook_command = hook_command
        self.base_env = dict(base_env)
        # what agents inherit from the tmux server (the daemon's environment): providers
        # read it (an API key to pre-approve, the user's config dirs), never change it
        self.agent_env = {**(inherited_env or {}), **self.base_env}
        self.max_prompt_bytes = max_prompt_bytes
        self.size = size
        self.clock = clock
        self.pre_tool_checks: list[PreToolCheck] = []
        self.prompt_sink: PromptSink | None = None
        self.prepare_cwd: CwdPreparer | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    # -- identity and lookup --------------------------------------------------------
    async def authenticate(self, token: str, claimed_id: str = "") -> Caller:
        """The session a token belongs to (None without a token). Raises Unauthorized
        for an unknown token and Refused when the claimed session id is not the
        token's own."""
        if not token:
            if claimed_id:
                raise Refused(f"a call claiming session {claimed_id} needs its token")
            return None
        rec = await self.store.sessions.by_token_hash(token_hash(token))
        if rec is None:
            raise Unauthorized("unknown session token")
        if claimed_id and claimed_id != rec.id:
            raise Refused(f"this token belongs to session {rec.id}, not {claimed_id}")
        return rec

    async def resolve(self, ref: str) -> SessionRecord:
        """A session by id, name or unique id prefix. Raises NotFound or, for an
        ambiguous prefix, InvalidInput listing the candidates."""
        if not ref:
            raise InvalidInput("empty session reference")
        found = await self.store.sessions.find(ref)
        if not found:
            raise NotFound(f"no session {ref!r}")
        if len(found) > 1:
            names = ", ".join(r.id for r in found[:5])
            raise InvalidInput(f"session reference {ref!r} is ambiguous: {names}")
        return found[0]

    async def check_may_manage(self, caller: Caller, target: SessionRecord) -> None:
        """The operator, the session itself and its ancestors may manage it."""
        if caller is None or caller.id == target.id:
            return
        parent_id = target.parent_id
        while parent_id:
            if parent_id == caller.id:
                return
            parent = await self.store.sessions.get(parent_id)
            parent_id = parent.parent_id if parent else None
        raise Refused(f"session {caller.label} may not manage {target.label}: not its parent")

    # -- lifecycle ------------------------------------------------------------------
    async def spawn(self, req: SpawnRequest, caller: Caller) -> SessionRecord:
        """Start an agent in its own tmux session. Raises NotFound (provider),
        InvalidInput (name, cwd, prompt), Conflict (name taken), Unavailable (tmux or
        the agent binary missing; the session is then recorded as ``error``)."""
        provider = agents.get(self.providers, req.provider)
        name = check_name(req.name) if req.name is not None else None
        self._check_prompt(req.prompt)
        cwd = Path(req.cwd or ".").expanduser()
        if not cwd.is_dir():
            raise InvalidInput(f"working directory {cwd} does not exist")
        sid = uuid.uuid4().hex[:10]
        if req.worktree is not None:
            if self.prepare_cwd is None:
                raise InvalidInput("worktrees are not available in this daemon")
            cwd = await self.prepare_cwd(sid, name, cwd, req.worktree)
        token = secrets.token_urlsafe(24)
        session_dir = self.sessions_dir / sid
        session_dir.mkdir(parents=True, exist_ok=True)
        spec = LaunchSpec(
            session_id=sid,
            cwd=cwd.resolve(),
            session_dir=session_dir,
            hook_command=self.hook_command,
            conversation_id=str(uuid.uuid4()),
            options=dict(req.options),
            env=self.agent_env,
        )
        launch = await asyncio.to_thread(provider.launch, spec)  # writes its files
        now = self.clock()
        rec = SessionRecord(
            id=sid, name=name, provider=provider.name, state=State.STARTING, cwd=str(spec.cwd),
            tmux_session=f"sm-{sid}", parent_id=caller.id if caller else None,
            options=dict(req.options), created_at=now, updated_at=now,
            conversation_id=spec.conversation_id, token_hash=token_hash(token),
        )
        async with self.store.write() as conn:
            await self.store.sessions.insert(conn, rec)
            event = await self._event(conn, sid, "spawned", {
                "provider": rec.provider, "name": name, "cwd": rec.cwd,
                "parent_id": rec.parent_id, "argv": launch.argv,
            })
        await self.bus.publish([event])
        env = {**self.base_env, **launch.env, "SM_SESSION_ID": sid, "SM_SESSION_TOKEN": token}
        await self._start_tmux(rec, launch.argv, env)
        if req.prompt and self.prompt_sink is not None:
            await self.prompt_sink(rec, req.prompt, caller)
        return await self.get(sid)

    async def kill(self, ref: str, caller: Caller) -> SessionRecord:
        """Kill the agent's tmux session and keep the record as ``stopped``."""
        rec = await self.resolve(ref)
        await self.check_may_manage(caller, rec)
        await self.apply(rec.id, Signal("kill"), {"by": caller.id if caller else "operator"})
        if await self.tmux.has_session(rec.tmux_session):
            await self.tmux.kill_session(rec.tmux_session)
        return await self.get(rec.id)

    async def rename(self, ref: str, name: str, caller: Caller) -> SessionRecord:
        rec = await self.resolve(ref)
        await self.check_may_manage(caller, rec)
        check_name(name)
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, rec.id, self.clock(), name=name)
            event = await self._event(conn, rec.id, "renamed", {"from": rec.name, "to": name})
        await self.bus.publish([event])
        return await self.get(rec.id)

    async def restore(self, ref: str, caller: Caller) -> SessionRecord:
        """Relaunch a dead agent resuming its own conversation; the original prompt is
        never sent again. Raises Conflict when the session is live."""
        rec = await self.resolve(ref)
        await self.check_may_manage(caller, rec)
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
            await self.store.sessions.update(
                conn, rec.id, self.clock(), token_hash=token_hash(token)
            )
        await self.apply(rec.id, Signal("restore"), {"conversation_id": rec.conversation_id})
        if await self.tmux.has_session(rec.tmux_session):
            await self.tmux.kill_session(rec.tmux_session)
        env = {**self.base_env, **launch.env, "SM_SESSION_ID": rec.id, "SM_SESSION_TOKEN": token}
        await self._start_tmux(rec, launch.argv, env)
        return await self.get(rec.id)

    async def _start_tmux(self, rec: SessionRecord, argv: list[str], env: dict[str, str]) -> None:
        try:
            await self.tmux.new_session(
                rec.tmux_session, argv, rec.cwd, env, width=self.size[0], height=self.size[1]
            )
        except SmError as exc:
            await self.apply(rec.id, Signal("pane-died", "1"), {"error": exc.message})
            raise

    # -- facts from the agent and from tmux ----------------------------------------------
    async def record_hook(
        self, caller: Caller, event: str, payload: dict[str, Any], hook_id: str = ""
    ) -> dict[str, Any]:
        """Apply one hook fact (idempotent by ``hook_id``). Returns what the hook prints
        for the agent (e.g. a PreToolUse decision) under ``output``."""
        if caller is None:
            raise Refused(f"hook {event} needs a session token (SM_SESSION_TOKEN)")
        detail = str(payload.get("notification_type") or payload.get("reason") or "")
        ignored = await self._ignored_notify(caller.id, payload) if event == NOTIFY else ""
        fields: dict[str, Any] = {}
        conv = payload.get("session_id")
        if conv and event != "SessionEnd":
            fields["conversation_id"] = str(conv)
        if payload.get("transcript_path"):
            fields["transcript_path"] = str(payload["transcript_path"])
        if event in ("Stop", NOTIFY) and not ignored:
            message = payload.get("last_assistant_message", payload.get("last-assistant-message"))
            if message is not None:
                fields["last_message"] = str(message)
        applied = await self.apply(
            caller.id, Signal(event, ignored or detail), {"hook": event}, fields=fields,
            hook=(event, trim(payload)), dedupe_key=f"hook:{hook_id}" if hook_id else None,
            note={"ignored": ignored} if ignored else None,
        )
        if applied is None or event != "PreToolUse":
            return {}
        rec = await self.get(caller.id)
        for check in self.pre_tool_checks:
            output = await check(rec, payload)
            if output:
                return {"output": output}
        return {}

    async def _ignored_notify(self, session_id: str, payload: dict[str, Any]) -> str:
        """Why a Codex ``notify`` (agent-turn-complete) says nothing about this session's
        turn, or "": it fires for Codex's own title thread too (another thread id than
        the one the hooks report), and right after the Stop hook of the same turn."""
        rec = await self.get(session_id)
        thread = str(payload.get("thread-id") or "")
        if thread and rec.conversation_id and thread != rec.conversation_id:
            return "other thread"
        turn = payload.get("turn-id")
        if turn:
            recent = await self.store.events.list(
                session_id=session_id, kinds=("hook",), limit=20, newest=True
            )
            for ev in recent:
                data = ev.payload.get("data") or {}
                if ev.payload.get("event") in ("Stop", "Interrupt") and data.get("turn_id") == turn:
                    return "turn already ended"
        return ""

    async def pane_died(self, tmux_session: str) -> None:
        """tmux says a pane died: check it with tmux itself, then record the exit."""
        rec = await self.store.sessions.by_tmux_session(tmux_session)
        if rec is None or not rec.is_live:
            return
        try:
            pane = await self.tmux.pane(tmux_session)
        except NotFound:
            return
        if pane.dead:
            status = pane.exit_status
            await self.apply(
                rec.id, Signal("pane-died", str(status)), {"tmux": "pane-died"},
                fields={"exit_status": status},
            )

    async def reconcile(self) -> None:
        """After a daemon start: sessions whose tmux pane died or vanished while no
        daemon was watching are recorded as such."""
        panes = {p.session: p for p in await self.tmux.panes()}
        for rec in await self.store.sessions.list(live_only=True):
            pane = panes.get(rec.tmux_session)
            if pane is None:
                await self.apply(
                    rec.id, Signal("pane-died", "0"), {"reconcile": "tmux session gone"}
                )
            elif pane.dead:
                status = pane.exit_status
                await self.apply(
                    rec.id, Signal("pane-died", str(status)), {"reconcile": "pane dead"},
                    fields={"exit_status": status},
                )

    async def apply(
        self,
        session_id: str,
        signal: Signal,
        evidence: dict[str, Any],
        *,
        fields: dict[str, Any] | None = None,
        hook: tuple[str, Any] | None = None,
        dedupe_key: str | None = None,
        note: Mapping[str, Any] | None = None,
    ) -> list[EventRecord] | None:
        """Record a signal (and its hook fact, with ``note`` merged in) and the state
        change it causes, in one transaction; publish after commit. Returns None for a
        duplicate hook."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            rec = await self.get(session_id)
            new = transition(State(rec.state), signal)
            events: list[EventRecord] = []
            async with self.store.write() as conn:
                if hook is not None:
                    fact = await self._event(
                        conn, session_id, "hook",
                        {"event": hook[0], "state": rec.state, "data": hook[1], **(note or {})},
                        dedupe_key,
                    )
                    if fact is None:
                        return None
                    events.append(fact)
                    evidence = {**evidence, "seq": fact.seq}
                changes = dict(fields or {})
                if new is not None:
                    changes["state"] = new.value
                if changes:
                    await self.store.sessions.update(conn, session_id, self.clock(), **changes)
                if new is not None:
                    events.append(await self._event(conn, session_id, "state", {
                        "from": rec.state, "to": new.value, "signal": signal.kind,
                        "detail": signal.detail, "evidence": evidence,
                    }))
        await self.bus.publish(events)
        return events

    # -- reading ----------------------------------------------------------------------
    async def get(self, session_id: str) -> SessionRecord:
        rec = await self.store.sessions.get(session_id)
        if rec is None:
            raise NotFound(f"no session {session_id!r}")
        return rec

    async def output(self, ref: str, lines: int) -> str:
        rec = await self.resolve(ref)
        if not await self.tmux.has_session(rec.tmux_session):
            raise NotFound(f"session {rec.label} has no tmux pane any more ({rec.state})")
        return await self.tmux.capture(rec.tmux_session, lines)

    async def tail(self, ref: str, limit: int) -> list[dict[str, Any]]:
        """The session's recent tool actions, oldest first, from its hook events."""
        rec = await self.resolve(ref)
        events = await self.store.events.list(
            session_id=rec.id, kinds=("hook",), limit=limit * 4, newest=True
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

    def _check_prompt(self, prompt: str) -> None:
        size = len(prompt.encode("utf-8", "surrogatepass"))
        if size > self.max_prompt_bytes:
            raise InvalidInput(
                f"prompt is {size} bytes; the limit is {self.max_prompt_bytes} "
                f"(limits.max_prompt_bytes)"
            )

    async def _event(
        self, conn: Any, session_id: str | None, kind: str, payload: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> Any:
        return await self.store.events.append(
            conn, self.clock(), session_id, kind, payload, dedupe_key
        )
