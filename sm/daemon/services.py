"""The daemon's long-lived resources, built in the lifespan and handed to routes.

Everything is wired here, once, in dependency order: each object gets what it needs in
its constructor. The adapters (routes, the Telegram bridge) get ``ops``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sm import agents
from sm.agents import env as agent_env
from sm.agents.base import hook_command, mcp_command
from sm.config import Settings
from sm.core.activity import ActivityWatch
from sm.core.budgets import Budgets, parse_amount
from sm.core.caller import Caller
from sm.core.coordination import Coordination
from sm.core.delivery import Queue, Receipts, Workers
from sm.core.events import EventBus
from sm.core.evidence import ScreenEvidence
from sm.core.guard import WriteGuard
from sm.core.health import Health
from sm.core.identity import Identity
from sm.core.job_sessions import SessionAgents
from sm.core.launches import Launcher, Pace, Pacing
from sm.core.leases import Leases
from sm.core.notices import Notices
from sm.core.prices import PriceTable
from sm.core.readiness import ReadyWatch
from sm.core.sessions import Sessions
from sm.core.stream import EventStream
from sm.core.usage import Meter
from sm.daemon import spool
from sm.daemon.work import Work
from sm.errors import Refused, SmError, StorageFull, Unauthorized, Unavailable
from sm.git.prs import Prs
from sm.git.repos import Repos
from sm.git.worktrees import Worktrees
from sm.ops import Ops
from sm.ops.asks import AskOps
from sm.ops.authz import Authz
from sm.ops.budgets import BudgetOps
from sm.ops.coordination import CoordinationOps
from sm.ops.events import EventOps
from sm.ops.git import GitOps
from sm.ops.hooks import PANE_DIED, HookOps
from sm.ops.inbox import InboxOps
from sm.ops.locks import LockOps
from sm.ops.messages import MessageOps
from sm.ops.sessions import SessionOps
from sm.ops.usage import UsageOps
from sm.runtime.procs import Procs
from sm.runtime.tmux import Tmux
from sm.store import Store

if TYPE_CHECKING:
    from sm.daemon.telemetry import TelemetryReceiver
    from sm.telegram.bridge import Bridge
    from sm.web.server import WebServer

log = logging.getLogger("sm.daemon")


@dataclass
class Services:
    settings: Settings
    store: Store
    runtime: Tmux
    bus: EventBus
    sessions: Sessions
    queue: Queue
    workers: Workers
    leases: Leases
    coordination: Coordination
    readiness: ReadyWatch
    evidence: ScreenEvidence
    ops: Ops
    identity: Identity
    meter: Meter
    work: Work  # jobs, notes, the knowledge base
    health: Health  # failure classes, rate-limit holds, stalls
    launcher: Launcher  # held spawns, launched when their provider's slot comes
    telegram: Bridge | None = None  # only when telegram.token is set
    telemetry: TelemetryReceiver | None = None  # only when usage.telemetry is on
    stream: EventStream = field(init=False)
    web: WebServer | None = None  # the dashboard, once asked for (or web.enabled)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings) -> Services:
        settings.sessions_dir.mkdir(parents=True, exist_ok=True)
        try:
            store = await Store.open(settings.db_path, settings.limits.max_db_bytes)
        except SmError as exc:  # said on stderr too: the CLI that started us shows it
            log.error("daemon start failed: %s", exc.message)
            raise
        bus = EventBus(settings.stream.buffer)
        queue = Queue(store, bus, max_bytes=settings.limits.max_prompt_bytes,
                      intake_of=agents.intake_of)
        prices = PriceTable(settings.usage.prices, settings.usage.context_windows)
        receiver = None
        try:
            budgets = _budgets(settings, store, bus, queue, prices)
            # budgets are checked in the usage insert's transaction; a context crossing
            # tells the parent through the queue in that transaction too
            meter = Meter(store, bus, agents.usage_readers(), sessions_dir=settings.sessions_dir,
                          prices=prices, threshold=settings.usage.context_threshold,
                          checks=(budgets.check,), queue=queue)
            receiver = await _telemetry_receiver(settings, meter)
            services = await cls._build(settings, store, bus, queue, budgets, meter, receiver)
            await services._start()
        except BaseException as exc:
            log.error("daemon start failed: %s", exc)
            if receiver is not None:
                await receiver.close()
            await store.close()
            raise
        return services

    @classmethod
    async def _build(
        cls, settings: Settings, store: Store, bus: EventBus, queue: Queue, budgets: Budgets,
        meter: Meter, receiver: TelemetryReceiver | None,
    ) -> Services:
        bin_dir = str(Path(sys.executable).parent)
        base_env = {
            "SM_HOME": str(settings.home),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }
        # the tmux server's environment is every pane's: only the allowlist, never ours
        server_env = {**agent_env.allowed(os.environ, agent_env.BASE, ("TMUX_TMPDIR",)),
                      **base_env}
        runtime = Tmux(settings.tmux_socket, settings.tmux.binary, settings.tmux.history_limit,
                       env=server_env)
        providers = agents.providers(settings, receiver.telemetry if receiver else None)
        # usage is read by a listener after a turn's hook committed, never inside its
        # transaction: reading the agent's files is I/O
        bus.listen(meter.on_event, "usage", meter.LISTENS)
        identity = Identity(store, runtime, Procs())
        receipts = Receipts(store, queue, providers)
        health = Health(store, bus, stalled_after=settings.health.stalled_after)
        notices = Notices(store, queue)
        sp = settings.spawn
        pace = Pace(store, Pacing(interval=sp.interval, max_starting=sp.max_starting,
                                  after_reset=sp.after_reset, start_timeout=sp.start_timeout))
        sessions = Sessions(
            store, runtime, providers, bus,
            sessions_dir=settings.sessions_dir, hook_command=hook_command(),
            mcp_command=mcp_command() if settings.mcp.agents else (), base_env=base_env,
            agent_env=dict(os.environ), max_prompt_bytes=settings.limits.max_prompt_bytes,
            identity=identity, env_patterns=settings.agents.env,
            consequences=(receipts.on_fact, notices.on_fact, health.on_fact),
            size=(settings.tmux.width, settings.tmux.height), pace=pace,
        )
        launcher = Launcher(store, bus, pace, sessions.launch_held)
        workers = Workers(store, runtime, providers, queue, bus, sessions.apply,
                          holds=(budgets.paused, health.paused))
        leases = Leases(store, bus, auto_release_idle=settings.locks.auto_release_idle)
        repos = Repos(store, settings.repos_dir)

        async def tell(session_id: str, text: str) -> None:
            target = await store.sessions.get(session_id)
            if target is not None:
                await queue.notify(target, text)

        wt = settings.worktree
        worktrees = Worktrees(
            store, repos, root=settings.worktrees_dir, branch_prefix=wt.branch_prefix,
            setup=wt.setup, setup_timeout=wt.setup_timeout, notify=tell,
        )
        bus.listen(worktrees.on_event, "worktrees", worktrees.LISTENS)
        coordination = Coordination(store, queue, bus, settings.remind, home=settings.home)
        authz = Authz(store)
        prs = Prs(store)
        session_ops = SessionOps(store, sessions, queue, authz, worktrees.prepare)
        work = Work.build(settings, store, bus,
                          SessionAgents(store, bus, sessions, queue, prs, session_ops.spawn),
                          authz)
        ops = Ops(
            authz=authz,
            sessions=session_ops,
            messages=MessageOps(store, queue, authz),
            coordination=CoordinationOps(store, sessions, coordination, authz),
            events=EventOps(store, authz),
            locks=LockOps(store, leases, authz, settings.locks.roots),
            git=GitOps(store, worktrees, repos, prs, authz),
            hooks=HookOps(sessions, WriteGuard(leases) if settings.locks.enforce else None),
            asks=AskOps(coordination.asks, authz),
            usage=UsageOps(store, meter, telemetry=receiver is not None, budgets=budgets),
            budgets=BudgetOps(store, budgets, authz),
            inbox=InboxOps(store, queue, bus, authz),
            notes=work.notes,
            kb=work.kb,
            jobs=work.jobs,
        )
        evidence = ScreenEvidence(sessions, runtime, providers, workers, bus)
        services = cls(settings, store, runtime, bus, sessions, queue, workers, leases,
                       coordination, ReadyWatch(sessions, bus), evidence, ops, identity,
                       meter, work, health, launcher,
                       telegram=await _telegram(settings, store, bus, ops),
                       telemetry=receiver)
        services.stream = EventStream(store, bus, keepalive=settings.stream.keepalive)
        return services

    async def _start(self) -> None:
        # hooks spooled while the daemon was away happened before any death that
        # reconcile finds: apply them first
        await self.drain_spool()
        hook = hook_command()
        try:
            await self.runtime.start(f"SM_HOME={shlex.quote(str(self.settings.home))} {hook} "
                                     "pane-died 'session=#{@sm_session}'")
        except SmError as exc:
            log.warning("tmux is not available: %s", exc.message)
        else:
            try:
                await self.sessions.reconcile()
            except StorageFull as exc:  # serve anyway: the deaths are found again later
                log.error("reconcile stopped: %s", exc.message)
        await self.readiness.start()
        await self.evidence.start()
        await self.workers.start()
        self.launcher.start()
        await self.leases.start()
        await self.coordination.start()
        await self.meter.start()
        await self.work.start()

    def start_background(self) -> None:
        self.tasks.append(asyncio.create_task(self._watch_activity(), name="activity"))
        self.tasks.append(asyncio.create_task(self._watch_spool(), name="spool"))
        if self.telegram is not None:
            self.telegram.start()

    async def start_web(self, openapi: Any) -> WebServer:
        """The dashboard's listener, started on first call (idempotent). Raises Refused
        or InvalidInput for unsafe web settings, Unavailable when it cannot bind."""
        if self.web is None:
            from sm.web.server import WebServer

            web = WebServer(self, self.settings.web, self.settings.home / "web.key", openapi)
            await web.start()
            self.web = web
        return self.web

    async def close(self) -> None:
        await self.work.close()
        if self.web is not None:
            await self.web.close()
        if self.telegram is not None:
            await self.telegram.close()
        await self.coordination.close()
        await self.readiness.close()
        await self.evidence.close()
        await self.launcher.close()
        await self.workers.close()
        await self.queue.close()
        await self.leases.close()
        await self.meter.close()
        if self.telemetry is not None:
            await self.telemetry.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.bus.close()
        try:
            if await self.runtime.stop_if_empty():
                log.info("stopped tmux server %s: no agent runs in it",
                         self.runtime.socket_name)
        except SmError as exc:
            log.warning("could not check tmux server %s: %s", self.runtime.socket_name,
                        exc.message)
        await self.runtime.close()
        await self.store.close()

    async def drain_spool(self) -> int:
        """Apply hooks spooled while no daemon listened, in order, then empty the
        spool. Each hook has an id, so one applied before a crash is not applied twice.
        A bad line is logged and skipped; when the store is full the rest is put back
        for the next drain. Never raises."""
        path = self.settings.spool_path
        try:
            lines = await asyncio.to_thread(spool.take, path)
        except OSError as exc:
            log.error("cannot read the hook spool %s: %s", path, exc)
            return 0
        for i, line in enumerate(lines):
            try:
                caller, record = await self._spooled(line)
                await self.ops.hooks.record(caller, str(record["event"]), record)
            except StorageFull as exc:
                log.warning("store full: %d spooled hooks kept for later (%s)",
                            len(lines) - i, exc.message)
                await asyncio.to_thread(spool.put_back, path, lines[i:])
                return i
            except (spool.BadLine, Unauthorized, Refused) as exc:
                log.warning("dropped spooled hook line %d: %s", i + 1, exc)
            except SmError as exc:
                log.warning("spooled hook failed: %s", exc.message)
            except Exception:  # one line must never stop the drain
                log.exception("spooled hook line %d skipped", i + 1)
        return len(lines)

    async def _spooled(self, line: bytes) -> tuple[Caller, dict[str, Any]]:
        """The caller a spool line proves and its record. Raises BadLine, Refused."""
        record, signed, mac = spool.parse(line)
        if record["event"] == PANE_DIED:
            return Caller.operator("tmux"), record
        if signed is None:  # written before spool lines were signed
            token = record.get("token")
            return await self.identity.authenticate(None, str(token or "")), record
        sid = spool.session_of(record)
        rec = await self.store.sessions.get(sid)
        token_file = self.settings.sessions_dir / sid / "token"
        try:
            token = await asyncio.to_thread(token_file.read_text)
        except OSError:
            token = ""
        if rec is None or not token or not spool.verify(signed, mac, token.strip()):
            raise Refused(f"a spooled {record['event']} hook for session {sid} is not "
                          "signed with its token")
        return Caller.of(rec), record

    async def _watch_activity(self) -> None:
        watch = ActivityWatch(self.sessions, self.settings.shell.quiescence, self.health)
        while True:
            try:
                await watch.tick()
            except SmError as exc:
                log.debug("activity check failed: %s", exc.message)
            await asyncio.sleep(1.0)

    async def _watch_spool(self) -> None:
        """A hook that timed out (or met a failing daemon) lands in the spool after the
        first drain; pick such stragglers up (one stat a second)."""
        while True:
            await asyncio.sleep(1.0)
            try:
                if self.settings.spool_path.stat().st_size:
                    await self.drain_spool()
            except FileNotFoundError:
                continue
            except Exception:  # the watch outlives anything one drain meets
                log.exception("hook spool drain failed")


def _budgets(settings: Settings, store: Store, bus: EventBus, queue: Queue,
             prices: PriceTable) -> Budgets:
    """The budgets with their config defaults. Raises InvalidInput naming a bad key."""
    b = settings.budgets
    return Budgets(
        store, bus, queue, prices,
        session_default=parse_amount(b.session, "budgets.session") if b.session else 0,
        day_default=parse_amount(b.day, "budgets.day") if b.day else 0,
        action=b.action, warn_at=b.warn_at)


async def _telemetry_receiver(settings: Settings, meter: Meter) -> TelemetryReceiver | None:
    """The OpenTelemetry receiver, listening, when ``usage.telemetry`` is on. Raises
    Unavailable when its port is taken."""
    if not settings.usage.telemetry:
        return None
    from sm.daemon.telemetry import TelemetryReceiver, secret_for

    receiver = TelemetryReceiver(meter, secret=secret_for(settings.home),
                                 port=settings.usage.telemetry_port)
    try:
        await receiver.start()
    except OSError as exc:
        raise Unavailable(f"the telemetry receiver cannot listen on 127.0.0.1:"
                          f"{settings.usage.telemetry_port} (usage.telemetry_port): {exc}"
                          ) from exc
    return receiver


async def _telegram(settings: Settings, store: Store, bus: EventBus, ops: Ops) -> Bridge | None:
    """The Telegram bridge when ``telegram.token`` is set (``telegram`` is imported only
    then: it costs ~200 ms). A bad Telegram setting is logged; the daemon runs without."""
    t = settings.telegram
    if not t.token:
        log.info("telegram bridge off (telegram.token is not set)")
        return None
    if not t.chat_id:
        log.warning("telegram bridge off: telegram.chat_id is not set")
        return None
    from sm.telegram.bridge import Bridge

    try:
        bridge = Bridge(t, store, bus, ops, Caller.operator("telegram"))
    except SmError as exc:
        log.error("telegram bridge off: %s", exc.message)
        return None
    await bridge.open()
    if bridge.access.is_empty:
        log.warning("telegram: allowed_user_ids and allowed_chat_ids are empty: "
                    "nobody will be served")
    log.info("telegram bridge on (chat %s, base url %s)", t.chat_id, t.base_url)
    return bridge
