"""Screen evidence, pushed: what an agent's screen says when its hooks say nothing.

Some turns end with no hook at all — a human's Escape in Claude Code, a refused
permission prompt, an interrupt before the model wrote anything — and some start with
none (a prompt the agent took mid-turn and ran after it, when sm took it to ride along).
For every live session of an agent with hooks, this watch follows the pane's pushed
output; when the output has been quiet for ``settle`` seconds it reads the screen once:

- ``running`` or ``waiting_permission``, and the composer is back with no turn running:
  the turn ended (``interrupted``, evidence: the screen). At once when the screen says
  so — the agent's interrupt mark is the transcript's last line, or a prompt was put
  back into the composer; otherwise only after ``confirm`` more seconds in which the
  pane stayed quiet and no hook came (a turn's last hooks may still be on their way).
  If the interrupt put one of sm's messages back into the composer, delivery takes it
  back (``Workers.reclaim``). An interrupt sm itself is making (an urgent message, a
  clear) is left to the delivery worker, which records it with its reason.
- ``idle``, and the screen shows a turn running: a turn no hook announced (``busy``) —
  once the screen still says so ``busy_confirm`` seconds later with no hook meanwhile (a
  footer can lag a turn's Stop by a moment).

No timer polls a screen: a read happens only after the pane wrote something, or once
after the session entered ``running`` (its screen may already be at rest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sm.agents.base import Provider
from sm.core.delivery.worker import Workers
from sm.core.events import EventBus
from sm.core.sessions import Sessions
from sm.core.state import Signal
from sm.errors import NotFound, SmError
from sm.runtime.base import Runtime
from sm.store.events import EventRecord
from sm.vocab import EventKind, SessionState

if TYPE_CHECKING:
    from sm.runtime.output import Subscription

log = logging.getLogger("sm.evidence")
_ACTIVE = (SessionState.RUNNING, SessionState.WAITING_PERMISSION)


class ScreenEvidence:
    def __init__(
        self, sessions: Sessions, runtime: Runtime, providers: Mapping[str, Provider],
        workers: Workers, bus: EventBus, *, settle: float = 0.15, confirm: float = 1.5,
        busy_confirm: float = 0.5,
    ) -> None:
        self.sessions = sessions
        self.runtime = runtime
        self.providers = providers
        self.workers = workers
        self.settle = settle
        self.confirm = confirm
        self.busy_confirm = busy_confirm
        self._heard: dict[str, int] = {}  # events per watched session, to see hooks come
        self._watches: dict[str, asyncio.Task[None]] = {}
        self._pokes: dict[str, _Pokes] = {}
        bus.listen(self._on_event, "evidence")

    async def start(self) -> None:
        """After a daemon start: watch every live session of an agent with hooks."""
        for rec in await self.sessions.store.sessions.list(live_only=True):
            if rec.launch_hold is None:  # a held spawn is watched once it runs
                self._watch(rec.id, rec.provider, rec.tmux_session)
                self._poke(rec.id)

    async def close(self) -> None:
        tasks = list(self._watches.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.session_id is None:
            return
        if ev.session_id in self._heard:
            self._heard[ev.session_id] += 1
        if ev.kind != EventKind.STATE:
            return
        to = ev.payload.get("to")
        if to == SessionState.STARTING or (to in _ACTIVE and ev.session_id not in self._watches):
            rec = await self.sessions.store.sessions.get(ev.session_id)
            if rec is not None:
                self._watch(rec.id, rec.provider, rec.tmux_session)
        if to in _ACTIVE or ev.payload.get("turn_ended"):
            self._poke(ev.session_id)  # its screen may be at rest already

    def _poke(self, session_id: str) -> None:
        pokes = self._pokes.get(session_id)
        if pokes is not None:
            pokes.poke()

    def _watch(self, session_id: str, provider: str, pane: str) -> None:
        found = self.providers.get(provider)
        if found is None or not found.has_hooks:
            return
        task = self._watches.get(session_id)
        if task is None or task.done():
            self._pokes[session_id] = _Pokes()
            self._heard[session_id] = 0
            self._watches[session_id] = asyncio.create_task(
                self._follow(session_id, pane), name=f"evidence-{session_id}")

    async def _follow(self, session_id: str, pane: str) -> None:
        """Follow the pane's output until the session dies; read its screen each time
        the output has been quiet for ``settle`` seconds after a change."""
        pokes = self._pokes[session_id]
        try:
            while True:
                try:
                    sub = await self.runtime.subscribe(pane, screen=False)
                except NotFound:
                    await asyncio.sleep(0.2)  # not drawn yet, or gone: look again
                    rec = await self.sessions.store.sessions.get(session_id)
                    if rec is None or not rec.is_live:
                        return
                    continue
                reader = asyncio.create_task(_forward(sub, pokes))
                try:
                    while await self._settled(pokes):
                        if not await self._check(session_id, pokes):
                            return
                finally:
                    reader.cancel()
                    sub.close()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
                if not sub.lagged:
                    return  # the pane went away
                pokes.ended = False  # behind: start again from a fresh snapshot
                pokes.poke()
        except SmError as exc:
            log.warning("screen evidence for %s: %s", session_id, exc.message)
        finally:
            self._watches.pop(session_id, None)
            self._pokes.pop(session_id, None)
            self._heard.pop(session_id, None)

    async def _settled(self, pokes: _Pokes) -> bool:
        """Wait for output (or a poke), then until it has been quiet for ``settle``
        seconds. False when the pane's stream ended. One timer per quiet window, never
        one per chunk of output."""
        await pokes.wanted.wait()
        loop = asyncio.get_running_loop()
        while not pokes.ended:
            delay = pokes.at + self.settle - loop.time()
            if delay <= 0:
                pokes.wanted.clear()
                return True
            await asyncio.sleep(delay)
        return False

    async def _check(self, session_id: str, pokes: _Pokes) -> bool:
        """Read the screen once and apply what it shows. False once the session is dead."""
        rec = await self.sessions.store.sessions.get(session_id)
        if rec is None or not rec.is_live:
            return False
        if rec.state not in (*_ACTIVE, SessionState.IDLE):
            return True
        provider = self.providers[rec.provider]
        try:
            screen = provider.read_screen(
                await self.runtime.capture(rec.tmux_session, escapes=True))
        except NotFound:
            return True
        if rec.state in _ACTIVE and screen.composer is not None and not screen.busy:
            if self.workers.interrupting(rec.id):
                return True  # sm's own interrupt (an urgent message, a clear): its to record
            if not (screen.interrupted or screen.composer):
                heard = self._heard.get(session_id, 0)
                await asyncio.sleep(self.confirm)
                if pokes.wanted.is_set() or self._heard.get(session_id, 0) != heard:
                    return True  # output or a hook came: look again when it settles
                again = await self.sessions.store.sessions.get(session_id)
                if again is None or again.state != rec.state:
                    return True
            await self.sessions.apply(rec.id, Signal("interrupted", "screen"), {
                "screen": "the prompt is back and at rest, with no hook"})
            if screen.composer:
                await self.workers.reclaim(await self.sessions.get(rec.id))
        elif rec.state == SessionState.IDLE and screen.busy:
            # a footer may say "esc to interrupt" a moment after the turn's Stop: only a
            # screen still busy after ``busy_confirm`` seconds with no hook is a turn
            heard = self._heard.get(session_id, 0)
            await asyncio.sleep(self.busy_confirm)
            again = await self.sessions.store.sessions.get(session_id)
            if (self._heard.get(session_id, 0) != heard or again is None
                    or again.state != SessionState.IDLE):
                return True
            try:
                screen = provider.read_screen(
                    await self.runtime.capture(rec.tmux_session, escapes=True))
            except NotFound:
                return True
            if screen.busy:
                await self.sessions.apply(rec.id, Signal("busy"), {
                    "screen": "a turn is running that no hook announced"})
        return True


class _Pokes:
    """A watched pane's reasons to look: when output (or a poke) last came, whether a
    look is wanted since the last one, and whether its stream ended."""

    def __init__(self) -> None:
        self.at = 0.0
        self.wanted = asyncio.Event()
        self.ended = False

    def poke(self) -> None:
        self.at = asyncio.get_running_loop().time()
        self.wanted.set()

    def end(self) -> None:
        self.ended = True
        self.wanted.set()


async def _forward(sub: Subscription, pokes: _Pokes) -> None:
    try:
        async for _chunk in sub:
            pokes.poke()
    finally:
        pokes.end()
