"""The daemon's long-lived resources, built in the lifespan and handed to routes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sm import agents
from sm.agents.base import hook_command
from sm.config import Settings
from sm.core.activity import ActivityWatch
from sm.core.coordination import Coordination
from sm.core.delivery import Delivery
from sm.core.events import EventBus
from sm.core.guard import WriteGuard
from sm.core.leases import Leases
from sm.core.readiness import ReadyWatch
from sm.core.sessions import Sessions
from sm.daemon.work import Work
from sm.errors import SmError, Unauthorized
from sm.git.prs import Prs
from sm.git.repos import Repos
from sm.git.worktrees import Worktrees
from sm.runtime.tmux import Tmux
from sm.store import Store

if TYPE_CHECKING:
    from sm.telegram.bridge import Bridge

log = logging.getLogger("sm.daemon")


@dataclass
class Services:
    settings: Settings
    store: Store
    tmux: Tmux
    bus: EventBus
    sessions: Sessions
    delivery: Delivery
    leases: Leases
    repos: Repos
    worktrees: Worktrees
    prs: Prs
    coordination: Coordination
    telegram: Bridge | None = None  # only when telegram.token is set
    readiness: ReadyWatch | None = None
    work: Work | None = None  # jobs, notes, the knowledge base
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, settings: Settings) -> Services:
        settings.sessions_dir.mkdir(parents=True, exist_ok=True)
        store = await Store.open(settings.db_path)
        tmux = Tmux(settings.tmux_socket, settings.tmux.binary, settings.tmux.history_limit)
        bus = EventBus()
        hook = hook_command()
        bin_dir = str(Path(sys.executable).parent)
        base_env = {
            "SM_HOME": str(settings.home),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }
        sessions = Sessions(
            store, tmux, agents.providers(settings), bus,
            sessions_dir=settings.sessions_dir,
            hook_command=hook,
            base_env=base_env,
            max_prompt_bytes=settings.limits.max_prompt_bytes,
            size=(settings.tmux.width, settings.tmux.height),
            inherited_env=dict(os.environ),  # the tmux server hands the daemon's env on
        )
        delivery = Delivery(store, sessions, bus, max_bytes=settings.limits.max_prompt_bytes)

        async def _first_prompt(rec: Any, prompt: str, caller: Any) -> None:
            await delivery.send(caller, [rec.id], prompt)

        sessions.prompt_sink = _first_prompt
        leases = Leases(store, bus, auto_release_idle=settings.locks.auto_release_idle)
        if settings.locks.enforce:
            sessions.pre_tool_checks.append(WriteGuard(leases))
        repos = Repos(store, settings.repos_dir)

        async def _tell(session_id: str, text: str) -> None:
            await delivery.notify(await sessions.get(session_id), text)

        wt = settings.worktree
        worktrees = Worktrees(
            store, repos, root=settings.worktrees_dir, branch_prefix=wt.branch_prefix,
            setup=wt.setup, setup_timeout=wt.setup_timeout, notify=_tell,
        )
        sessions.prepare_cwd = worktrees.prepare
        bus.listen(worktrees.on_event)
        coordination = Coordination(store, sessions, delivery, bus, settings.remind,
                                    home=settings.home)
        services = cls(settings, store, tmux, bus, sessions, delivery, leases, repos, worktrees,
                       Prs(store), coordination=coordination)
        services.readiness = ReadyWatch(sessions, bus)
        try:
            services.telegram = await _telegram(services)
            # hooks spooled while the daemon was away happened before any death that
            # reconcile finds: apply them first
            await services.drain_spool()
            try:
                await tmux.start(f"SM_HOME={_q(settings.home)} {hook} pane-died "
                                 "'session=#{session_name}'")
            except SmError as exc:
                log.warning("tmux is not available: %s", exc.message)
            else:
                await sessions.reconcile()
            await services.readiness.start()
            await delivery.start()
            await leases.start()
            await coordination.start()
            services.work = await Work.open(services)
        except BaseException as exc:
            log.error("daemon start failed: %s", exc)
            await store.close()
            raise
        return services

    def start_background(self) -> None:
        self.tasks.append(asyncio.create_task(self._watch_activity()))
        self.tasks.append(asyncio.create_task(self._watch_spool()))
        if self.telegram is not None:
            self.telegram.start()

    async def close(self) -> None:
        if self.work is not None:
            await self.work.close()
        if self.telegram is not None:
            await self.telegram.close()
        await self.coordination.close()
        if self.readiness is not None:
            await self.readiness.close()
        await self.delivery.close()
        await self.leases.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()

    async def drain_spool(self) -> int:
        """Apply hooks spooled while no daemon listened, in order, then empty the
        spool. Each hook has an id, so one applied before a crash is not applied twice."""
        path = self.settings.spool_path
        if not path.exists():
            return 0
        lines = await asyncio.to_thread(_take_spool, path)
        for line in lines:
            try:
                record = json.loads(line)
                caller = await self.sessions.authenticate(record.get("token", ""))
                await self.handle_hook(caller, record)
            except (ValueError, Unauthorized) as exc:
                log.warning("dropped a spooled hook: %s", exc)
            except SmError as exc:
                log.warning("spooled hook failed: %s", exc.message)
        return len(lines)

    async def handle_hook(self, caller: Any, record: dict[str, Any]) -> dict[str, Any]:
        event = str(record.get("event", ""))
        payload = record.get("payload") or {}
        if not isinstance(payload, dict):
            payload = {"value": payload}
        if event == "pane-died":
            await self.sessions.pane_died(str(payload.get("session", "")))
            return {}
        return await self.sessions.record_hook(caller, event, payload, str(record.get("id", "")))

    async def _watch_activity(self) -> None:
        watch = ActivityWatch(self.sessions, self.settings.shell.quiescence)
        while True:
            try:
                await watch.tick()
            except SmError as exc:
                log.debug("activity check failed: %s", exc.message)
            await asyncio.sleep(1.0)


    async def _watch_spool(self) -> None:
        """A hook that timed out while the daemon was busy starting lands in the spool
        after the first drain; pick such stragglers up (one stat a second)."""
        while True:
            await asyncio.sleep(1.0)
            if self.settings.spool_path.exists() and self.settings.spool_path.stat().st_size:
                await self.drain_spool()


def _take_spool(path: Path) -> list[str]:
    import fcntl

    with open(path, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lines = [line for line in f.read().splitlines() if line.strip()]
        f.seek(0)
        f.truncate()
    return lines


def _q(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


async def _telegram(svc: Services) -> Bridge | None:
    """The Telegram bridge when ``telegram.token`` is set (``telegram`` is imported only
    then: it costs ~200 ms). A bad Telegram setting is logged; the daemon runs without."""
    t = svc.settings.telegram
    if not t.token:
        log.info("telegram bridge off (telegram.token is not set)")
        return None
    if not t.chat_id:
        log.warning("telegram bridge off: telegram.chat_id is not set")
        return None
    from sm.telegram.bridge import Bridge

    try:
        bridge = Bridge(t, svc.store, svc.bus, svc.sessions, svc.delivery,
                        clear=svc.coordination.conversations.clear)
    except SmError as exc:
        log.error("telegram bridge off: %s", exc.message)
        return None
    await bridge.open()
    if bridge.access.is_empty:
        log.warning("telegram: allowed_user_ids and allowed_chat_ids are empty: "
                    "nobody will be served")
    log.info("telegram bridge on (chat %s, base url %s)", t.chat_id, t.base_url)
    return bridge
