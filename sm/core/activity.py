"""The one place sm polls tmux, once a second for all sessions together:

- output quiescence for agents without hooks (the ``shell`` provider): one
  ``list-panes`` round trip, only while such a session is live;
- exits tmux failed to report: tmux 3.3 sometimes leaves an exited agent unreaped (no
  ``pane-died`` hook, no status) until another of its children exits, so while any
  session is live sm has tmux run a no-op child every few seconds, and records panes
  that ``list-panes`` shows dead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sm.core.sessions import Sessions
from sm.core.state import Signal
from sm.vocab import SessionState

_REAP_EVERY = 3  # ticks


class ActivityWatch:
    def __init__(
        self, sessions: Sessions, quiet_after: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.sessions = sessions
        self.quiet_after = quiet_after
        self.clock = clock
        self._seen: dict[str, int] = {}
        self._ticks = 0

    async def tick(self) -> int:
        """One check; returns how many live sessions were looked at."""
        self._ticks += 1
        live = await self.sessions.store.sessions.list(live_only=True)
        hookless = {
            name for name, provider in self.sessions.providers.items() if not provider.has_hooks
        }
        watched = [r for r in live if r.provider in hookless]
        reap = bool(live) and self._ticks % _REAP_EVERY == 0
        if not watched and not reap:
            return 0
        tmux = self.sessions.runtime
        if reap:
            await tmux.reap()
        panes = {p.session: p for p in await tmux.panes()}
        now = self.clock()
        for rec in live:
            pane = panes.get(rec.tmux_session)
            if pane is None:
                continue
            if pane.dead:
                await self.sessions.pane_died(rec.tmux_session)
                continue
            if rec.provider not in hookless:
                continue
            before = self._seen.get(rec.id)
            self._seen[rec.id] = pane.activity
            if before is not None and pane.activity != before:
                signal = Signal("active")
            elif now - pane.activity >= self.quiet_after and rec.state != SessionState.IDLE:
                signal = Signal("quiet")
            else:
                continue
            await self.sessions.apply(rec.id, signal, {"tmux": "window_activity",
                                                       "activity": pane.activity})
        return len(live)
