"""Readiness from the screen, for agents whose hooks do not say when they are ready.

Codex fires SessionStart only with the first prompt, so a Codex session would stay
``starting`` — and its first message would wait for a hook that needs that message.
While such a session is ``starting``, this watch reads its pane every ``interval`` and
applies the ``ready`` signal (starting → idle) once the provider sees an empty
composer with no dialog in front of it. It polls only sessions that are starting, for
at most ``timeout`` seconds each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sm.core.events import EventBus
from sm.core.sessions import Sessions
from sm.core.state import Signal
from sm.errors import NotFound, SmError
from sm.store.events import EventRecord
from sm.vocab import EventKind, SessionState

log = logging.getLogger("sm.readiness")


class ReadyWatch:
    def __init__(
        self,
        sessions: Sessions,
        bus: EventBus,
        *,
        interval: float = 0.05,
        timeout: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        bus.listen(self._on_event, "readiness", (EventKind.LAUNCHED, EventKind.STATE))

    async def start(self) -> None:
        """After a daemon start: watch every session still starting."""
        for rec in await self.sessions.store.sessions.list(live_only=True):
            if rec.state == SessionState.STARTING and rec.launch_hold is None:
                self._watch(rec.id, rec.provider)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.session_id is None:
            return
        restored = ev.kind == EventKind.STATE and ev.payload.get("to") == SessionState.STARTING
        if ev.kind == EventKind.LAUNCHED or restored:
            rec = await self.sessions.get(ev.session_id)
            self._watch(rec.id, rec.provider)

    def _watch(self, session_id: str, provider: str) -> None:
        found = self.sessions.providers.get(provider)
        if found is None or not found.ready_from_screen:
            return
        task = self._tasks.get(session_id)
        if task is None or task.done():
            self._tasks[session_id] = asyncio.create_task(self._run(session_id))

    async def _run(self, session_id: str) -> None:
        deadline = self.clock() + self.timeout
        try:
            while self.clock() < deadline:
                rec = await self.sessions.get(session_id)
                if rec.state != SessionState.STARTING:
                    return
                provider = self.sessions.providers[rec.provider]
                with contextlib.suppress(NotFound):  # the pane is not there yet
                    screen = await self.sessions.runtime.capture(rec.tmux_session, escapes=True)
                    if provider.read_screen(screen).ready:
                        await self.sessions.apply(rec.id, Signal("ready"),
                                                  {"screen": "an empty composer"})
                        return
                await asyncio.sleep(self.interval)
            log.warning("session %s showed no composer within %.0fs", session_id, self.timeout)
        except SmError as exc:
            log.warning("readiness of session %s: %s", session_id, exc.message)
        finally:
            self._tasks.pop(session_id, None)
