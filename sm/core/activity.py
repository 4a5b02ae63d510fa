"""Shell activity from pushed pane output, and the exits tmux fails to report.

- Quiescence for agents without hooks (the ``shell`` provider): the runtime records when
  each pane last wrote output as tmux pushes it (``Runtime.output_at``, no round trip);
  a one-second timer turns that into ``active`` (new output since the last look) and
  ``quiet`` (none for ``quiet_after`` seconds) signals.
- Exits tmux failed to report: tmux 3.3 sometimes leaves an exited agent unreaped (no
  ``pane-died`` hook, no status) until another of its children exits, so while any
  session is live sm has tmux run a no-op child every few seconds and reads the panes
  (one round trip on the runtime's connection): a dead pane is recorded as an exit, and
  a pane that was there and is gone (the tmux server was killed, or the session was
  killed outside sm) as an exit with that reason.
- Stalls (``Health.check_stalled``): on the same tick, a session ``running`` with no hook
  and no output for ``health.stalled_after`` seconds is told once per stall.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sm.core.health import Health
from sm.core.sessions import Sessions
from sm.core.state import Signal
from sm.store.sessions import SessionRecord
from sm.vocab import SessionState

_REAP_EVERY = 3  # ticks
_STATUS_WAIT = 10.0  # seconds a dead pane may go without an exit status before it is 0
_GONE = "tmux session gone: the tmux server exited or the session was killed outside sm"


class ActivityWatch:
    def __init__(
        self, sessions: Sessions, quiet_after: float, health: Health | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.health = health
        self.quiet_after = quiet_after
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._present: set[str] = set()  # tmux sessions the last pane listing showed
        self._unreaped: dict[str, float] = {}  # dead panes with no exit status yet: since
        self._ticks = 0

    async def tick(self) -> int:
        """One check; returns how many live sessions were looked at."""
        self._ticks += 1
        live = await self.sessions.store.sessions.list(live_only=True)
        if not live:
            return 0
        runtime = self.sessions.runtime
        now = self.clock()
        for rec in live:
            at = runtime.output_at(rec.tmux_session)
            if self.health is not None and rec.state == SessionState.RUNNING:
                await self.health.check_stalled(rec, at)
            provider = self.sessions.providers.get(rec.provider)
            if provider is None or provider.has_hooks or at is None:
                continue
            before = self._seen.get(rec.id)
            self._seen[rec.id] = at
            if before is not None and at != before:
                signal = Signal("active")
            elif now - at >= self.quiet_after and rec.state != SessionState.IDLE:
                signal = Signal("quiet")
            else:
                continue
            await self.sessions.apply(rec.id, signal, {"tmux": "output", "output_at": at})
        if self.health is not None:
            self.health.forget({rec.id for rec in live if rec.state == SessionState.RUNNING})
        if self._ticks % _REAP_EVERY == 0 or self._unreaped:  # a status owed: look again soon
            await self._reap(live)
        return len(live)

    async def _reap(self, live: list[SessionRecord]) -> None:
        runtime = self.sessions.runtime
        await runtime.reap()
        panes = {p.session: p for p in await runtime.panes()}
        for rec in live:
            pane = panes.get(rec.tmux_session)
            if pane is None:
                if rec.tmux_session in self._present:
                    current = await self.sessions.get(rec.id)
                    if current.is_live:
                        await self.sessions.apply(rec.id, Signal("pane-died", _GONE), {
                            "tmux": _GONE})
                continue
            if pane.dead:
                # tmux may not have reaped it yet: its status comes with a later look
                first = self._unreaped.setdefault(rec.id, self.clock())
                if await self.sessions.pane_died(
                        rec.tmux_session, unknown_status=self.clock() - first >= _STATUS_WAIT):
                    self._unreaped.pop(rec.id, None)
        self._present = set(panes)
