"""Output quiescence for agents without hooks (the ``shell`` provider).

The one place sm polls tmux: one ``list-panes`` round trip per interval for all
sessions, and only while a hook-less session is live.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sm.core.sessions import Sessions
from sm.core.state import Signal, State


class ActivityWatch:
    def __init__(
        self, sessions: Sessions, quiet_after: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.sessions = sessions
        self.quiet_after = quiet_after
        self.clock = clock
        self._seen: dict[str, int] = {}

    async def tick(self) -> int:
        """Check every live hook-less session once; returns how many were checked."""
        hookless = {
            name for name, provider in self.sessions.providers.items() if not provider.has_hooks
        }
        live = [
            r for r in await self.sessions.store.sessions.list(live_only=True)
            if r.provider in hookless
        ]
        if not live:
            return 0
        panes = {p.session: p for p in await self.sessions.tmux.panes()}
        now = self.clock()
        for rec in live:
            pane = panes.get(rec.tmux_session)
            if pane is None or pane.dead:
                continue
            before = self._seen.get(rec.id)
            self._seen[rec.id] = pane.activity
            if before is not None and pane.activity != before:
                signal = Signal("active")
            elif now - pane.activity >= self.quiet_after and rec.state != State.IDLE:
                signal = Signal("quiet")
            else:
                continue
            await self.sessions.apply(rec.id, signal, {"tmux": "window_activity",
                                                       "activity": pane.activity})
        return len(live)
