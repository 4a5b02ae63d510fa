"""The typing workers: one task per target session with undelivered messages.

Each step loads the target's next message (one indexed lookup), asks ``decide`` what to
do, and does it through the runtime: hold, read the screen, interrupt, recover, or type.
Typing is a bracketed paste of the header and body, a pause, then Enter on its own; only
Enter is retried, until the agent's own receipt (its UserPromptSubmit, matched in the
hook's transaction by ``Receipts``) marks the message delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sm.agents.base import Provider, Screen
from sm.core.delivery.decide import POLL, Action, Hold, Step, decide, put_back
from sm.core.delivery.queue import Queue, render, typed
from sm.core.events import EventBus
from sm.core.state import Signal
from sm.errors import SmError, StorageFull
from sm.runtime.base import Runtime
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, EventKind, MessageKind, MessageState, SessionState

log = logging.getLogger("sm.delivery")
_FULL_RETRY = 1.0  # seconds between tries while the store is full
# (session id, signal, evidence): record what the screen showed as a state signal
ApplySignal = Callable[[str, Signal, dict[str, object]], Awaitable[object]]
# a session's deliveries held by a rule outside its screen (a budget reached, a rate
# limit until its reset), or None
Paused = Callable[[SessionRecord], Awaitable[Hold | None]]


class Workers:
    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        providers: Mapping[str, Provider],
        queue: Queue,
        bus: EventBus,
        apply: ApplySignal,
        *,
        receipt_timeout: float = 3.0,
        enter_tries: int = 3,
        interrupt_timeout: float = 10.0,
        holds: Sequence[Paused] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.providers = providers
        self.queue = queue
        self.apply = apply
        self.receipt_timeout = receipt_timeout
        self.enter_tries = enter_tries
        self.interrupt_timeout = interrupt_timeout
        self.holds = tuple(holds)
        self.clock = clock
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._receipts: dict[str, asyncio.Event] = {}
        self._panes: dict[str, asyncio.Lock] = {}  # one writer per pane at a time
        self._stops: set[asyncio.Task[None]] = set()  # turns being interrupted (a budget)
        self._interrupting: set[str] = set()  # sessions whose turn sm is interrupting now
        # target → (rank, created_at) of the message its worker waits on, while it waits
        self._parked: dict[str, tuple[int, float]] = {}
        bus.listen(self._on_event, "delivery",
                   (EventKind.MESSAGE, EventKind.STATE, EventKind.BUDGET))

    async def start(self) -> None:
        """After a daemon start: resume every target with undelivered messages."""
        for target_id in await self.store.messages.targets_with_open():
            self.wake(target_id)

    async def close(self) -> None:
        tasks = [*self._workers.values(), *self._stops]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self, target_id: str) -> None:
        self._wakes.setdefault(target_id, asyncio.Event()).set()
        task = self._workers.get(target_id)
        if task is None or task.done():
            self._workers[target_id] = asyncio.create_task(self._work(target_id),
                                                           name=f"deliver-{target_id}")

    def is_working(self, target_id: str) -> bool:
        task = self._workers.get(target_id)
        return task is not None and not task.done()

    async def _work(self, target_id: str) -> None:
        wake = self._wakes.setdefault(target_id, asyncio.Event())
        while True:
            wake.clear()
            msg = await self.store.messages.next_for(target_id)
            if msg is None:
                if wake.is_set():  # woken while it looked: look again
                    continue
                self._workers.pop(target_id, None)
                return
            rec = await self.store.sessions.get(target_id)
            if rec is None:
                await self.queue.move(msg, MessageState.FAILED, "its target session is gone")
                continue
            try:
                wait = await self._step(rec, msg)
            except StorageFull as exc:  # nothing was written: try again when there is room
                log.warning("delivery of message %s waits for room: %s", msg.id, exc.message)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=_FULL_RETRY)
                continue
            except SmError as exc:
                await self.queue.move(msg, MessageState.FAILED, exc.message)
                continue
            except Exception:
                log.exception("delivery of message %s failed", msg.id)
                await self.queue.move(msg, MessageState.FAILED, "sm failed while typing it "
                                      "(see the daemon log)")
                continue
            if msg.expires_at is not None and msg.state == MessageState.QUEUED:
                until = max(0.0, msg.expires_at - self.clock())
                wait = until if wait is None else min(wait, until)
            if wait is None or wait > 0:
                self._parked[target_id] = (msg.rank, msg.created_at)
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=wait)
                finally:
                    self._parked.pop(target_id, None)

    async def _step(self, rec: SessionRecord, msg: MessageRecord) -> float | None:
        """Move ``msg`` one step. Returns how long to wait before looking again (None:
        until woken; 0: at once)."""
        async with self._panes.setdefault(rec.id, asyncio.Lock()):
            return await self._step_locked(rec, msg)

    async def _step_locked(self, rec: SessionRecord, msg: MessageRecord) -> float | None:
        provider = self.providers[rec.provider]
        hold = await self._held(rec)
        step = self._decide(rec, msg, provider, hold=hold)
        if step.action == Action.SCREEN:
            screen = await self._screen(rec)
            if screen.composer and await self._reclaim(rec, screen.composer,
                                                       drop=msg.kind == MessageKind.CLEAR):
                return 0
            step = self._decide(rec, msg, provider, screen)
        elif step.action == Action.PROMPT_BACK:
            if await self._prompt_back(rec):
                # refused (Escape / No): Claude Code ends that turn with no hook at all
                await self.apply(rec.id, Signal("interrupted"), {
                    "message": msg.id, "screen": "prompt back after a permission prompt"})
                return 0
            step = self._decide(rec, msg, provider, Screen(composer=None, busy=False))
        return await self._act(rec, msg, provider, step)

    async def _held(self, rec: SessionRecord) -> Hold | None:
        """The first rule that holds ``rec``'s deliveries, or None."""
        for paused in self.holds:
            hold = await paused(rec)
            if hold is not None:
                return hold
        return None

    def _decide(self, rec: SessionRecord, msg: MessageRecord, provider: Provider,
                screen: Screen | None = None, hold: Hold | None = None) -> Step:
        return decide(rec.state, rec.label, msg, has_hooks=provider.has_hooks,
                      now=self.clock(), screen=screen, hold=hold)

    async def _act(
        self, rec: SessionRecord, msg: MessageRecord, provider: Provider, step: Step
    ) -> float | None:
        if step.action == Action.FAIL:
            await self.queue.move(msg, MessageState.FAILED, step.reason)
            return 0
        if step.action == Action.EXPIRE:
            await self.queue.move(msg, MessageState.EXPIRED, step.reason,
                                  from_states=(MessageState.QUEUED,))
            return 0
        if step.action == Action.HOLD:
            if msg.reason != step.reason:
                await self.queue.note(msg, reason=step.reason)
            return step.wait
        if step.action == Action.INTERRUPT:
            await self.queue.note(msg, reason=step.reason)
            await self._interrupt(rec, msg, provider)
            return 0
        if step.action == Action.RECOVER:
            await self._recover(rec, msg)
            return 0
        await self._type(rec, msg, provider)
        return 0

    # -- a prompt put back ----------------------------------------------------------------
    async def reclaim(self, rec: SessionRecord) -> bool:
        """After an interrupt: if the agent put one of sm's messages back into its
        composer (it never answered it), queue that message again and clear the
        composer, so it is typed once more in its turn — never left there, never
        counted delivered. Returns whether it did."""
        async with self._panes.setdefault(rec.id, asyncio.Lock()):
            screen = await self._screen(rec)
            return bool(screen.composer) and await self._reclaim(rec, screen.composer or "")

    async def _reclaim(self, rec: SessionRecord, composer: str, drop: bool = False) -> bool:
        """``drop``: the interrupt was for a clear, so the old task's message is
        cancelled instead of typed again into the new conversation."""
        ends = await self.store.events.turn_ends(rec.id, limit=2)
        if not ends:
            return False
        before = ends[1] if len(ends) > 1 else 0
        candidates = await self.store.messages.received_between(rec.id, before, ends[0])
        provider = self.providers[rec.provider]
        msg = put_back(composer, candidates, pasted=provider.shows_paste(composer))
        if msg is None:
            return False
        if drop:
            moved = await self.queue.move(
                msg, MessageState.CANCELLED,
                "put back into the composer by an interrupt before the agent answered it, "
                "and its conversation was cleared", from_states=(MessageState.DELIVERED,),
                delivered_at=None)
        else:
            moved = await self.queue.move(
                msg, MessageState.QUEUED,
                "put back into the composer by an interrupt before the agent answered it: "
                "typed again", from_states=(MessageState.DELIVERED,), attempts=0,
                receipt_seq=None, receipt_conv=None, receipt_busy=0, notified=0,
                delivered_at=None)
        if not moved:
            return False
        await self.runtime.send_keys(rec.tmux_session, "C-u")
        log.info("message %s was put back into %s's composer: queued again", msg.id, rec.label)
        return True

    # -- the screen ---------------------------------------------------------------------
    async def _screen(self, rec: SessionRecord) -> Screen:
        provider = self.providers[rec.provider]
        return provider.read_screen(await self.runtime.capture(rec.tmux_session, escapes=True))

    async def _prompt_back(self, rec: SessionRecord, settle: float = 0.1) -> bool:
        """Whether the agent's prompt is back and stays: a composer, no turn running, and
        the same screen ``settle`` seconds later. Streaming text (Codex shows no busy
        line then) changes the screen; a prompt at rest does not."""
        provider = self.providers[rec.provider]
        first = await self.runtime.capture(rec.tmux_session, escapes=True)
        screen = provider.read_screen(first)
        if screen.busy or screen.composer is None:
            return False
        await asyncio.sleep(settle)
        return await self.runtime.capture(rec.tmux_session, escapes=True) == first

    # -- acting -------------------------------------------------------------------------
    async def _interrupt(self, rec: SessionRecord, msg: MessageRecord, provider: Provider
                         ) -> None:
        """Press the agent's interrupt key and wait until its prompt is back."""
        # interrupted for a clear: that task is being dropped, its notices with it
        why = "clear" if msg.kind == MessageKind.CLEAR else ""
        await self._interrupt_turn(rec, provider, why, {"message": msg.id})

    def stop_turn(self, session_id: str, why: str, evidence: dict[str, object]) -> None:
        """Interrupt the session's running turn (as an urgent message does), in a task
        of its own; nothing when it is not running."""
        task = asyncio.create_task(self._stop_turn(session_id, why, evidence),
                                   name=f"stop-{session_id}")
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _stop_turn(self, session_id: str, why: str, evidence: dict[str, object]) -> None:
        async with self._panes.setdefault(session_id, asyncio.Lock()):
            rec = await self.store.sessions.get(session_id)
            if rec is None or rec.state != SessionState.RUNNING:
                return
            try:
                await self._interrupt_turn(rec, self.providers[rec.provider], why, evidence)
            except SmError as exc:
                log.warning("could not interrupt %s (%s): %s", rec.label, why, exc.message)

    def interrupting(self, session_id: str) -> bool:
        """Whether sm itself is interrupting the session's turn right now: the turn's end
        is then the worker's to record (with why), not a watcher's."""
        return session_id in self._interrupting

    async def _interrupt_turn(self, rec: SessionRecord, provider: Provider, why: str,
                              evidence: dict[str, object]) -> None:
        self._interrupting.add(rec.id)
        try:
            await self._interrupt_turn_now(rec, provider, why, evidence)
        finally:
            self._interrupting.discard(rec.id)

    async def _interrupt_turn_now(self, rec: SessionRecord, provider: Provider, why: str,
                                  evidence: dict[str, object]) -> None:
        await self.runtime.send_keys(rec.tmux_session, provider.interrupt_key)
        deadline = self.clock() + self.interrupt_timeout
        while self.clock() < deadline:
            await asyncio.sleep(0.05)
            current = await self.store.sessions.get(rec.id)
            if current is None or current.state != SessionState.RUNNING:
                return  # a hook said so (Codex: Interrupt)
            if await self._prompt_back(rec):  # Claude Code ends an interrupted turn silently
                await self.apply(rec.id, Signal("interrupted", why),
                                 {**evidence, "screen": "prompt back"})
                return
        raise SmError(f"the agent did not stop its turn within {self.interrupt_timeout:g}s "
                      f"of {provider.interrupt_key}")

    async def _type(self, rec: SessionRecord, msg: MessageRecord, provider: Provider) -> None:
        receipt = self._receipts.setdefault(msg.id, asyncio.Event())
        fields: dict[str, object] = {}
        if msg.kind == MessageKind.CLEAR:
            fields["receipt_conv"] = rec.conversation_id
        if not await self.queue.move(msg, MessageState.DELIVERING, None,
                                     from_states=(MessageState.QUEUED,), **fields):
            return  # cancelled (or expired) while it waited
        if msg.kind == MessageKind.CLEAR:
            # a slash command is typed, not pasted
            await self.runtime.send_text(rec.tmux_session, msg.body)
            await asyncio.sleep(max(provider.enter_delay, 0.05))
            if not provider.clear_hook:
                await self._clear_from_screen(rec, msg)
                return
        elif provider.has_hooks and msg.kind != MessageKind.RAW:
            await self.runtime.paste(rec.tmux_session, render(msg), buffer=f"sm-{msg.id}")
            await asyncio.sleep(provider.enter_delay)
        else:  # nothing can confirm it: no hooks, or no header for a hook to show
            if provider.has_hooks:
                await self.runtime.paste(rec.tmux_session, typed(msg, provider),
                                         buffer=f"sm-{msg.id}")
            else:
                await self.runtime.send_text(rec.tmux_session, typed(msg, provider))
            await asyncio.sleep(provider.enter_delay)
            await self.runtime.send_keys(rec.tmux_session, "Enter")
            await self.queue.move(msg, MessageState.DELIVERED, "typed as given; nothing "
                                  "confirms it" if msg.kind == MessageKind.RAW else
                                  "typed; this agent has no hooks to confirm it")
            return
        await self._enter_until_receipt(rec, msg, receipt)

    async def _clear_from_screen(self, rec: SessionRecord, msg: MessageRecord) -> None:
        """A clear no hook confirms (Codex's ``/new``): Enter until the command has left
        the composer and the screen is at rest with an empty one."""
        for attempt in range(1, self.enter_tries + 1):
            await self.queue.note(msg, attempts=attempt)
            await self.runtime.send_keys(rec.tmux_session, "Enter")
            deadline = self.clock() + self.receipt_timeout
            while self.clock() < deadline:
                await asyncio.sleep(0.05)
                if await self._prompt_back(rec, settle=0.15) and \
                        (await self._screen(rec)).composer == "":
                    await self.queue.move(msg, MessageState.DELIVERED, None,
                                          from_states=(MessageState.DELIVERING,))
                    return
        await self.queue.move(msg, MessageState.FAILED,
                              f"the agent's screen did not show the clear after {attempt} "
                              "Enter presses", from_states=(MessageState.DELIVERING,))

    async def _recover(self, rec: SessionRecord, msg: MessageRecord) -> None:
        """A message left ``delivering`` by a daemon that died mid-way: if its text is in
        the composer, press Enter; if not and no receipt came, it was never typed."""
        screen = await self._screen(rec)
        if screen.composer:
            receipt = self._receipts.setdefault(msg.id, asyncio.Event())
            await self._enter_until_receipt(rec, msg, receipt)
            return
        if msg.attempts == 0:
            await self.queue.move(msg, MessageState.QUEUED,
                                  "requeued: never typed before a restart",
                                  from_states=(MessageState.DELIVERING,))
            return
        await self.queue.move(msg, MessageState.FAILED,
                              "submitted before a daemon restart, but no receipt came")

    async def _enter_until_receipt(
        self, rec: SessionRecord, msg: MessageRecord, receipt: asyncio.Event
    ) -> None:
        try:
            for attempt in range(msg.attempts + 1, self.enter_tries + 1):
                await self.queue.note(msg, attempts=attempt)
                await self.runtime.send_keys(rec.tmux_session, "Enter")
                if await _waited(receipt, self.receipt_timeout):
                    return
                current = await self.store.messages.get(msg.id)
                if current is None or current.state != MessageState.DELIVERING:
                    return
                if not (await self._screen(rec)).composer:
                    # submitted (the composer emptied) but the hook is late: wait, never retype
                    if await _waited(receipt, self.receipt_timeout * 3):
                        return
                    break
            current = await self.store.messages.get(msg.id)
            if current is not None and current.state == MessageState.DELIVERING:
                await self.queue.move(
                    msg, MessageState.FAILED,
                    f"no receipt from the agent after {current.attempts} Enter presses",
                    from_states=(MessageState.DELIVERING,))
        finally:
            self._receipts.pop(msg.id, None)

    # -- facts ----------------------------------------------------------------------------
    async def _on_event(self, ev: EventRecord) -> None:
        if ev.kind == EventKind.BUDGET:
            self._on_budget(ev)
            return
        if ev.session_id is None:
            return
        if ev.kind == EventKind.MESSAGE:
            state = ev.payload.get("state")
            if state == MessageState.QUEUED:
                if not self._behind_parked(ev):
                    self.wake(ev.session_id)
            elif state != MessageState.DELIVERING:
                receipt = self._receipts.get(str(ev.payload.get("id")))
                if receipt is not None:
                    receipt.set()
                if ev.session_id in self._wakes:
                    self.wake(ev.session_id)
        elif ev.kind == EventKind.STATE and ev.session_id in self._wakes:
            self.wake(ev.session_id)

    def _behind_parked(self, ev: EventRecord) -> bool:
        """Whether a message just accepted sorts after the one its target's worker waits
        on: the worker's next look would take the same message and decide the same, so
        it is not woken (a backlog behind a running turn costs no look per accept). An
        accept's event has no reason and its ts is the message's ``created_at``; a move
        back to ``queued`` always says why, and wakes."""
        parked = self._parked.get(str(ev.session_id))
        if parked is None or ev.payload.get("reason") is not None:
            return False
        try:
            rank = DeliveryMode(str(ev.payload.get("mode"))).rank
        except ValueError:
            return False
        return (rank, ev.ts) >= parked

    def _on_budget(self, ev: EventRecord) -> None:
        """A budget reached stops its sessions' running turns (``stop``); any budget
        change wakes their held deliveries."""
        for sid in ev.payload.get("sessions") or ():
            if ev.payload.get("stop"):
                self.stop_turn(str(sid), "budget", {
                    "budget": f"{ev.payload.get('scope')} {ev.payload.get('key')}".strip(),
                    "seq": ev.seq})
            if str(sid) in self._wakes:
                self.wake(str(sid))


async def _waited(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout=timeout)
    except TimeoutError:
        return False
    return True


__all__ = ["POLL", "Workers"]
