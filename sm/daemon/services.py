"""The daemon's long-lived resources, built in the lifespan and handed to routes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sm import agents
from sm.agents.base import hook_command
from sm.config import Settings
from sm.core.activity import ActivityWatch
from sm.core.delivery import Delivery
from sm.core.events import EventBus
from sm.core.sessions import Sessions
from sm.errors import SmError, Unauthorized
from sm.runtime.tmux import Tmux
from sm.store import Store

log = logging.getLogger("sm.daemon")


@dataclass
class Services:
    settings: Settings
    store: Store
    tmux: Tmux
    bus: EventBus
    sessions: Sessions
    delivery: Delivery
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
        )
        delivery = Delivery(store, sessions, bus, max_bytes=settings.limits.max_prompt_bytes)

        async def _first_prompt(rec: Any, prompt: str, caller: Any) -> None:
            await delivery.send(caller, [rec.id], prompt)

        sessions.prompt_sink = _first_prompt
        services = cls(settings, store, tmux, bus, sessions, delivery)
        try:
            try:
                await tmux.start(f"SM_HOME={_q(settings.home)} {hook} pane-died "
                                 "'session=#{session_name}'")
            except SmError as exc:
                log.warning("tmux is not available: %s", exc.message)
            else:
                await sessions.reconcile()
            await services.drain_spool()
            await delivery.start()
        except BaseException as exc:
            log.error("daemon start failed: %s", exc)
            await store.close()
            raise
        return services

    def start_background(self) -> None:
        self.tasks.append(asyncio.create_task(self._watch_activity()))
        self.tasks.append(asyncio.create_task(self._watch_spool()))

    async def close(self) -> None:
        await self.delivery.close()
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
