"""Sessions: identity, lifecycle (spawn, kill, rename, restore), and hook facts → state.

Every change is written (session row + event rows, one transaction) before the runtime
is touched or anyone is told. Status is never kept only in memory. What a hook fact
causes beyond the session's own row — a receipt, a notice owed for the turn that ended —
is written by the ``Consequence`` callables in the fact's own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sm import agents
from sm.agents import LaunchSpec, Provider, env
from sm.core import refs
from sm.core.caller import Caller
from sm.core.events import EventBus, trim
from sm.core.identity import Identity, token_hash
from sm.core.names import check_name
from sm.core.state import TURN_ENDS, Signal, Step, Turns, step
from sm.errors import Conflict, InvalidInput, NotFound, SmError
from sm.private import write_private
from sm.runtime.base import Runtime
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import EventKind, SessionState

if TYPE_CHECKING:
    from sm.core.launches import Pace  # not at run time: launches → health → sessions


@dataclass(frozen=True)
class Fact:
    """One signal applied to a session, as its consequences see it."""

    signal: Signal
    hook: str | None  # the hook's event name, when the signal is a hook
    data: Mapping[str, Any]  # the hook's payload ({} for other signals)
    seq: int  # the fact's own event (the hook, else the state change)
    before: SessionState
    turns_before: Turns
    step: Step


# (connection, the session after the fact, the fact): more facts it causes, written in
# the same transaction (a receipt, a notice owed for the turn that ended)
Consequence = Callable[[Conn, SessionRecord, Fact], Awaitable[Sequence[EventRecord | None]]]


@dataclass(frozen=True)
class SpawnRequest:
    provider: str
    prompt: str = ""
    name: str | None = None
    cwd: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    worktree: Mapping[str, Any] | None = None  # branch, base, repo: start in a new worktree


def write_token(session_dir: Path, token: str) -> Path:
    """Write the session's token to ``<session dir>/token`` (mode 0600, atomically);
    only the session's own processes are pointed to it."""
    return write_private(session_dir / "token", token.encode())


def _detail(event: str, payload: Mapping[str, Any]) -> str:
    """What qualifies a hook: a notification's type, a SessionEnd's reason, the class of
    an API failure that ended a turn."""
    if event == "StopFailure":
        error = payload.get("error")
        if isinstance(error, dict):
            error = error.get("type")
        return str(error or "unknown")
    return str(payload.get("notification_type") or payload.get("reason") or "")


def _marker(rec: SessionRecord) -> str:
    """What every process an agent starts inherits (``SM_SESSION_ID``)."""
    return f"SM_SESSION_ID={rec.id}"


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
        mcp_command: Sequence[str] = (),
        base_env: Mapping[str, str],
        agent_env: Mapping[str, str],
        max_prompt_bytes: int,
        identity: Identity | None = None,
        env_patterns: Sequence[str] = (),
        consequences: Sequence[Consequence] = (),
        size: tuple[int, int] = (200, 50),
        pace: Pace | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.providers = providers
        self.bus = bus
        self.sessions_dir = sessions_dir
        self.hook_command = hook_command
        self.mcp_command = tuple(mcp_command)  # sm's stdio MCP server for agents; () = none
        self.base_env = dict(base_env)
        # what providers may read to prepare a launch (an API key to pre-approve, the
        # user's config dirs); agents themselves get only what sm/agents/env.py allows
        self.agent_env = {**agent_env, **self.base_env}
        self.identity = identity
        self.env_patterns = tuple(env_patterns)
        self.max_prompt_bytes = max_prompt_bytes
        self.consequences = tuple(consequences)
        self.size = size
        self.pace = pace  # None: every spawn launches at once
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    # -- identity and lookup --------------------------------------------------------
    def environment(self, provider: Provider, session_id: str, token_file: Path
                    ) -> dict[str, str]:
        """What the agent's process gets besides its launch env: the allowlist, its
        provider's variables, ``agents.env``, sm's own and the path of its token file
        (never the token itself: the runtime's environment is readable by others)."""
        return {
            **env.allowed(self.agent_env, env.BASE, provider.env_passed, self.env_patterns),
            **self.base_env, "SM_SESSION_ID": session_id, "SM_SESSION_TOKEN_FILE": str(token_file),
        }

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
        if "\x00" in req.cwd:
            raise InvalidInput(f"working directory {req.cwd[:80]!r}: contains a NUL character")
        cwd = Path(os.path.expanduser(req.cwd or "."))  # ~nosuchuser stays as written
        if not cwd.is_dir():
            raise InvalidInput(f"working directory {cwd} does not exist")
        return provider, name, cwd

    async def spawn(
        self, req: SpawnRequest, caller: Caller, *, cwd: Path, session_id: str | None = None,
    ) -> SessionRecord:
        """Start an agent in ``cwd`` in its own runtime session (the prompt is the
        caller's to queue) — or, while its provider is rate limited or its launches are
        paced (``sm/core/launches.py``), record it ``starting`` with a launch hold and
        return at once: the launcher starts it when its slot comes. Raises as
        ``check_spawn``, Conflict (name taken), Unavailable (runtime or the agent binary
        missing; the session is then recorded as ``error``)."""
        provider, name, _ = self.check_spawn(req)
        sid = session_id or new_session_id()
        token = secrets.token_urlsafe(24)
        session_dir = self.sessions_dir / sid
        session_dir.mkdir(parents=True, exist_ok=True)
        token_file = write_token(session_dir, token)
        spec = LaunchSpec(
            session_id=sid, cwd=cwd.resolve(), session_dir=session_dir,
            hook_command=self.hook_command, conversation_id=str(uuid.uuid4()),
            options=dict(req.options), env=self.agent_env, mcp_command=self.mcp_command,
        )
        launch = await asyncio.to_thread(provider.launch, spec)  # writes its files
        async with self._pace_lock(provider.name):
            now = self.clock()
            hold = None
            if self.pace is not None:
                ahead = len(await self.store.sessions.held(provider.name))
                found = await self.pace.slot(provider.name, now, ahead=ahead)
                if not found.go:
                    hold = {"reason": found.reason, "since": now}
            rec = SessionRecord(
                id=sid, name=name, provider=provider.name, state=SessionState.STARTING,
                cwd=str(spec.cwd), tmux_session=f"sm-{sid}", parent_id=caller.id,
                options=dict(req.options), created_at=now, updated_at=now,
                conversation_id=spec.conversation_id, token_hash=token_hash(token),
                launch_hold=hold, launched_at=None if hold else now,
            )
            async with self.store.write() as conn:
                await self.store.sessions.insert(conn, rec)
                events = [await self._event(conn, sid, EventKind.SPAWNED, {
                    "provider": rec.provider, "name": name, "cwd": rec.cwd,
                    "parent_id": rec.parent_id,
                    **({"held": hold["reason"]} if hold else {}),
                }, ts=now)]
                if hold is None:
                    events.append(await self._event(conn, sid, EventKind.LAUNCHED, {
                        "argv": launch.argv, "held_for": 0.0}, ts=now))
        await self.bus.publish(events)
        if hold is None:
            env = {**self.environment(provider, sid, token_file), **launch.env}
            await self._start_runtime(rec, launch.argv, env)
        return await self.get(sid)

    async def launch_held(self, rec: SessionRecord) -> bool:
        """Launch the agent of a held spawn if its provider's slot has come (the pace
        lock, one transaction, a tmux round trip). Returns False when it has not, or the
        session is no longer held; True when the session left its hold — launched, or
        failed to launch and recorded as ``error``."""
        try:
            provider = self.provider(rec)
            spec = LaunchSpec(
                session_id=rec.id, cwd=Path(rec.cwd), session_dir=self.sessions_dir / rec.id,
                hook_command=self.hook_command,
                conversation_id=rec.conversation_id or str(uuid.uuid4()),
                options=rec.options, env=self.agent_env, mcp_command=self.mcp_command,
            )
            spec.session_dir.mkdir(parents=True, exist_ok=True)
            launch = await asyncio.to_thread(provider.launch, spec)  # writes its files
        except Exception as exc:  # never leave a hold that can never launch
            await self._failed_launch(rec, exc)
            return True
        async with self._pace_lock(rec.provider):
            current = await self.get(rec.id)
            if current.state != SessionState.STARTING or current.launch_hold is None:
                return False
            now = self.clock()
            if self.pace is not None and not (await self.pace.slot(rec.provider, now)).go:
                return False
            token = secrets.token_urlsafe(24)
            token_file = write_token(spec.session_dir, token)
            since = float(current.launch_hold.get("since") or current.created_at)
            async with self.store.write() as conn:
                await self.store.sessions.update(conn, rec.id, now, launch_hold=None,
                                                 launched_at=now, token_hash=token_hash(token))
                event = await self._event(conn, rec.id, EventKind.LAUNCHED, {
                    "argv": launch.argv, "held_for": round(now - since, 3),
                    "held": current.launch_hold.get("reason")}, ts=now)
            await self.bus.publish([event])
            env = {**self.environment(provider, rec.id, token_file), **launch.env}
            # under the lock: a kill waits for the pane it has to end
            with contextlib.suppress(SmError):  # recorded as the session's error already
                await self._start_runtime(current, launch.argv, env)
        return True

    async def _failed_launch(self, rec: SessionRecord, exc: Exception) -> None:
        message = exc.message if isinstance(exc, SmError) else f"{type(exc).__name__}: {exc}"
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, rec.id, self.clock(), launch_hold=None)
        await self.apply(rec.id, Signal("pane-died", "1"), {"error": message})

    def _pace_lock(self, provider: str) -> asyncio.Lock | contextlib.nullcontext[None]:
        return self.pace.lock(provider) if self.pace is not None else contextlib.nullcontext()

    async def kill(self, rec: SessionRecord, by: Caller) -> SessionRecord:
        """Stop the agent's runtime session and every process it started; the record
        stays as ``stopped``. A held spawn is never launched then."""
        starting = rec.state == SessionState.STARTING
        async with self._pace_lock(rec.provider) if starting else contextlib.nullcontext():
            await self.apply(rec.id, Signal("kill"), {"by": by.id or "operator"},
                             fields={"launch_hold": None} if starting else None)
        if await self.runtime.has_session(rec.tmux_session):
            pane = await self.runtime.pane(rec.tmux_session)
            await self.runtime.kill_session(rec.tmux_session)
            await self.runtime.end_processes(pane.pid, _marker(rec))
        return await self.get(rec.id)

    async def rename(self, rec: SessionRecord, name: str) -> SessionRecord:
        """Raises InvalidInput (the name), Conflict (taken by a live session)."""
        check_name(name)
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, rec.id, self.clock(), name=name)
            event = await self._event(conn, rec.id, EventKind.RENAMED,
                                      {"from": rec.name, "to": name})
        await self.bus.publish([event])
        if rec.is_live:
            with contextlib.suppress(NotFound):  # the pane just died: nothing to rename
                await self.runtime.rename_window(rec.tmux_session, name)
        return await self.get(rec.id)

    async def forget(self, recs: Sequence[SessionRecord]) -> list[SessionRecord]:
        """Leave dead sessions out of lists from now on; their records, messages and
        events stay (``sm status ID`` still shows one). Raises Conflict for a live one,
        before anything changes."""
        live = [rec.label for rec in recs if rec.is_live]
        if live:
            raise Conflict(f"session {', '.join(live)} is live: sm kill it first; only a "
                           "dead session is forgotten")
        now, events = self.clock(), []
        async with self.store.write() as conn:
            for rec in recs:
                if rec.forgotten_at is None:
                    await self.store.sessions.update(conn, rec.id, rec.updated_at,
                                                     forgotten_at=now)
                    events.append(await self._event(conn, rec.id, EventKind.FORGOTTEN,
                                                    {"state": rec.state}))
        await self.bus.publish(events)
        return [await self.get(rec.id) for rec in recs]

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
            mcp_command=self.mcp_command,
        )
        spec.session_dir.mkdir(parents=True, exist_ok=True)
        launch = await asyncio.to_thread(provider.launch, spec)  # writes its files
        token = secrets.token_urlsafe(24)
        token_file = write_token(spec.session_dir, token)
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, rec.id, self.clock(),
                                             token_hash=token_hash(token), forgotten_at=None)
        await self.apply(rec.id, Signal("restore"), {"conversation_id": rec.conversation_id})
        now = self.clock()
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, rec.id, now, launch_hold=None,
                                             launched_at=now)
            launched = await self._event(conn, rec.id, EventKind.LAUNCHED, {
                "argv": launch.argv, "held_for": 0.0, "resume": has_history}, ts=now)
        await self.bus.publish([launched])
        if await self.runtime.has_session(rec.tmux_session):
            await self.runtime.kill_session(rec.tmux_session)
        env = {**self.environment(provider, rec.id, token_file), **launch.env}
        await self._start_runtime(rec, launch.argv, env)
        return await self.get(rec.id)

    async def _start_runtime(self, rec: SessionRecord, argv: list[str], env: dict[str, str]
                             ) -> None:
        try:
            pane = await self.runtime.new_session(
                rec.tmux_session, argv, rec.cwd, env, width=self.size[0], height=self.size[1],
                window=rec.label,
            )
        except Exception as exc:  # never leave the session ``starting`` for good
            message = exc.message if isinstance(exc, SmError) else f"{type(exc).__name__}: {exc}"
            await self.apply(rec.id, Signal("pane-died", "1"), {"error": message})
            raise
        if self.identity is not None:
            self.identity.watch(rec.id, pane.pid)

    # -- facts from the agent and from the runtime -----------------------------------------
    async def record_hook(
        self, session: SessionRecord, event: str, payload: dict[str, Any], hook_id: str = ""
    ) -> bool:
        """Apply one hook fact (idempotent by ``hook_id``) and what it causes. Returns
        False for a hook already applied."""
        rec = await self.get(session.id)
        provider = self.provider(rec)
        ignored = ""
        if event in provider.checked_turn_ends:
            ignored = provider.ignored_turn_end(event, payload, rec.conversation_id,
                                                await self._ended_turns(rec.id))
        conv = str(payload.get("session_id") or "")
        if not ignored and event in TURN_ENDS and conv and conv != rec.conversation_id \
                and await self._retired(rec.id, conv):
            ignored = "another conversation"  # a late Stop of a cleared conversation
        detail = _detail(event, payload)
        if event == "UserPromptSubmit" and provider.prompt_joins_turn(payload):
            detail = "joins"
        fields: dict[str, Any] = {}
        if conv and event != "SessionEnd" and not ignored:
            fields["conversation_id"] = conv
        if payload.get("transcript_path") and not ignored:
            fields["transcript_path"] = str(payload["transcript_path"])
        if event in ("Stop", "StopFailure", "agent-turn-complete") and not ignored:
            message = payload.get("last_assistant_message", payload.get("last-assistant-message"))
            if message is not None:
                fields["last_message"] = str(message)
        applied = await self.apply(
            rec.id, Signal(event, ignored or detail), {"hook": event}, fields=fields,
            hook=(event, trim(payload)), dedupe_key=f"hook:{hook_id}" if hook_id else None,
            note={"ignored": ignored} if ignored else None,
        )
        return applied is not None

    async def _retired(self, session_id: str, conv: str) -> bool:
        """Whether ``conv`` is a conversation the session cleared (its SessionEnd said
        ``clear``)."""
        recent = await self.store.events.list(session_id=session_id, kinds=(EventKind.HOOK,),
                                              limit=200, newest=True)
        return any(ev.payload.get("event") == "SessionEnd"
                   and (ev.payload.get("data") or {}).get("session_id") == conv
                   for ev in recent)

    async def _ended_turns(self, session_id: str) -> frozenset[str]:
        recent = await self.store.events.list(session_id=session_id, kinds=(EventKind.HOOK,),
                                              limit=20, newest=True)
        return frozenset(
            str((ev.payload.get("data") or {}).get("turn_id"))
            for ev in recent if ev.payload.get("event") in ("Stop", "Interrupt")
        )

    async def pane_died(self, tmux_session: str, *, unknown_status: bool = False) -> bool:
        """The runtime says a pane died: check it there, then record the exit. A pane
        whose exit status tmux does not know yet is left for a later look (False), unless
        ``unknown_status`` (then it is recorded as 0)."""
        rec = await self.store.sessions.by_tmux_session(tmux_session)
        if rec is None or not rec.is_live:
            return True
        try:
            pane = await self.runtime.pane(tmux_session)
        except NotFound:
            return True
        if pane.dead and not pane.status_known and not unknown_status:
            return False
        if pane.dead:
            status = pane.exit_status
            await self.apply(rec.id, Signal("pane-died", str(status)), {"tmux": "pane-died"},
                             fields={"exit_status": status})
            await self.runtime.end_processes(pane.pid, _marker(rec))  # its tools' orphans
        return True

    async def reconcile(self) -> None:
        """After a daemon start: sessions whose pane died or vanished while no daemon
        was watching are recorded as such."""
        panes = {p.session: p for p in await self.runtime.panes()}
        for rec in await self.store.sessions.list(live_only=True):
            if rec.launch_hold is not None:
                continue  # not launched yet: the launcher starts it
            pane = panes.get(rec.tmux_session)
            if pane is None:
                await self.apply(rec.id, Signal("pane-died", "0"),
                                 {"reconcile": "tmux session gone"})
            elif pane.dead:
                status = pane.exit_status
                await self.apply(rec.id, Signal("pane-died", str(status)),
                                 {"reconcile": "pane dead"}, fields={"exit_status": status})
                await self.runtime.end_processes(pane.pid, _marker(rec))
        if self.identity is not None:
            await self.identity.refresh()

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
        """Record a signal (and its hook fact, with ``note`` merged in), the state and
        turn change it causes, and its consequences, in one transaction; publish after
        commit. Returns None for a duplicate hook."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            rec = await self.get(session_id)
            turns = Turns(rec.turn_owed, rec.tool_running)
            nxt = step(rec.state, turns, signal)
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
                if nxt.state != rec.state:
                    changes["state"] = nxt.state
                if nxt.turns != turns:
                    changes.update(turn_owed=int(nxt.turns.owed),
                                   tool_running=int(nxt.turns.tool))
                if changes:
                    await self.store.sessions.update(conn, session_id, self.clock(), **changes)
                change = None
                if nxt.state != rec.state or nxt.turn_ended:
                    change = await self._event(conn, session_id, EventKind.STATE, {
                        "from": rec.state, "to": nxt.state, "signal": signal.kind,
                        "detail": signal.detail, "evidence": dict(evidence),
                        **({"turn_ended": True} if nxt.turn_ended else {}),
                    })
                    events.append(change)
                if not (note or {}).get("ignored") and (fact is not None or change is not None):
                    seen = fact or change
                    assert seen is not None
                    done = Fact(signal, hook[0] if hook else None,
                                hook[1] if hook and isinstance(hook[1], dict) else {},
                                seen.seq, rec.state, turns, nxt)
                    after = await self.get(session_id)
                    for consequence in self.consequences:
                        events.extend(await consequence(conn, after, done))
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
        dedupe_key: str | None = None, ts: float | None = None,
    ) -> EventRecord | None:
        return await self.store.events.append(
            conn, self.clock() if ts is None else ts, session_id, kind, payload, dedupe_key
        )
