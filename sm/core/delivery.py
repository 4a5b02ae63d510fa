"""Delivery: the durable queue's worker, one per target session.

A message is ``queued → delivering → delivered`` or ends ``failed`` / ``expired`` /
``cancelled`` with a reason. Its row is written before any key is pressed. The body is
typed once (bracketed paste); only Enter is retried. ``delivered`` means the agent's own
UserPromptSubmit hook showed the message id.

    sequential  at the target's turn boundary (idle)
    important   ahead of sequential; at the earliest point that does not interrupt
                (mid-turn: the agent queues typed input itself)
    urgent      ahead of all; interrupts a running turn with the agent's own key,
                waits for its prompt, then delivers

Never typed: into a permission prompt, over text a human has in the composer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sm.agents.base import Screen
from sm.core.commits import GroupCommit
from sm.core.events import EventBus
from sm.core.sessions import Caller, Sessions
from sm.core.state import Signal, State
from sm.errors import InvalidInput, NotFound, SmError
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord

MODES = ("sequential", "important", "urgent")
Then = Callable[[Any, MessageRecord], Awaitable[None]]  # (connection, the notice)
_IDS = re.compile(r"\[sm ([0-9a-f]{8}) from ")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def render(message: MessageRecord) -> str:
    """The text typed into the agent: a one-line header, then the body."""
    return f"[sm {message.id} from {message.sender_label}] {message.body}"


def clean_body(body: str) -> str:
    """Control characters (other than newline and tab) are made visible as ``^X``:
    typed raw they would press keys in the agent's terminal."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub(lambda m: "^" + chr((ord(m.group()) + 64) % 128), body)


class Delivery:
    def __init__(
        self,
        store: Store,
        sessions: Sessions,
        bus: EventBus,
        *,
        max_bytes: int,
        receipt_timeout: float = 3.0,
        enter_tries: int = 3,
        poll: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.bus = bus
        self.max_bytes = max_bytes
        self.receipt_timeout = receipt_timeout
        self.enter_tries = enter_tries
        self.poll = poll
        self.clock = clock
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._receipts: dict[str, asyncio.Event] = {}
        self._commits = GroupCommit(store)
        bus.listen(self._on_event)

    # -- accepting ------------------------------------------------------------------
    async def send(
        self,
        caller: Caller,
        targets: list[str],
        body: str,
        mode: str = "sequential",
        notify_on_stop: bool | None = None,
        sender_label: str | None = None,
    ) -> list[MessageRecord]:
        """Accept a message for each target (durably, before anything is typed).
        A dead target gets a ``failed`` row with the reason. Raises InvalidInput for an
        empty or oversized body or an unknown mode, NotFound for an unknown target."""
        if mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}; expected one of: {', '.join(MODES)}")
        body = clean_body(body)
        if not body.strip():
            raise InvalidInput("the message is empty")
        size = len(body.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise InvalidInput(
                f"message is {size} bytes; the limit is {self.max_bytes} (limits.max_prompt_bytes)"
            )
        if not targets:
            raise InvalidInput("no target session given")
        resolved = [await self.sessions.resolve(t) for t in targets]
        label = sender_label or (caller.label if caller else "operator")
        out = []
        for target in resolved:
            notify = notify_on_stop
            if notify is None:
                notify = caller is not None and target.parent_id == caller.id
            out.append(await self._accept(caller, label, target, body, mode, notify))
        return out

    async def notify(
        self, target: SessionRecord, body: str, mode: str = "sequential",
        then: Then | None = None,
    ) -> MessageRecord | None:
        """A notice from sm itself (``[sm … from sm]``), queued like any message (None:
        the target is dead). ``then(conn, message)`` runs in the same transaction: the
        fact that caused the notice is written with it, so a crash neither loses nor
        repeats it."""
        if not target.is_live:
            return None
        return await self._accept(None, "sm", target, clean_body(body), mode, False, then=then)

    async def clear(self, caller: Caller, target: SessionRecord, mode: str = "sequential"
                    ) -> MessageRecord:
        """Queue a conversation clear: the provider's clear command, typed by this same
        worker in queue order (never into a running turn; ``urgent`` interrupts it first)
        and confirmed by the agent's SessionStart(source=clear) with a new conversation
        id. Raises InvalidInput when the provider has no clear command."""
        if mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}; expected one of: {', '.join(MODES)}")
        command = self.sessions.providers[target.provider].clear_command
        if not command:
            raise InvalidInput(f"session {target.label} ({target.provider}) has no clear command")
        label = caller.label if caller else "operator"
        return await self._accept(caller, label, target, command, mode, False, kind="clear")

    async def _accept(
        self, caller: Caller, label: str, target: SessionRecord, body: str, mode: str,
        notify: bool, kind: str = "text", then: Then | None = None,
    ) -> MessageRecord:
        now = self.clock()
        state, reason = "queued", None
        if not target.is_live:
            state, reason = "failed", f"session {target.label} is {target.state}"
        msg = MessageRecord(
            id=secrets.token_hex(4), sender_id=caller.id if caller else None,
            sender_label=label, target_id=target.id, mode=mode, body=body, state=state,
            reason=reason, attempts=0, notify_on_stop=notify, receipt_seq=None,
            receipt_conv=None, receipt_busy=False, notified=False, created_at=now,
            updated_at=now, delivered_at=None, kind=kind,
        )
        payload = {
            "id": msg.id, "state": state, "mode": mode, "from": label, "reason": reason,
            **({"kind": kind} if kind != "text" else {}),
        }
        if then is None:  # concurrent accepts share a transaction
            event: EventRecord | None = await self._commits.add(msg, payload)
        else:
            async with self.store.write() as conn:
                await self.store.messages.insert(conn, msg)
                event = await self.store.events.append(conn, now, target.id, "message", payload)
                await then(conn, msg)
        await self.bus.publish([event] if event else [])
        if state == "queued":
            self.wake(target.id)
        return msg

    async def cancel(self, message_id: str, caller: Caller) -> MessageRecord:
        msg = await self.get(message_id)
        if msg.state != "queued":
            raise InvalidInput(f"message {msg.id} is {msg.state}; only a queued one is cancelled")
        await self._set(msg, "cancelled", f"cancelled by {caller.label if caller else 'operator'}")
        return await self.get(msg.id)

    async def get(self, message_id: str) -> MessageRecord:
        msg = await self.store.messages.get(message_id)
        if msg is None:
            raise NotFound(f"no message {message_id!r}")
        return msg

    # -- workers ----------------------------------------------------------------------
    async def start(self) -> None:
        """After a daemon start: resume every target with undelivered messages."""
        for target_id in await self.store.messages.targets_with_open():
            self.wake(target_id)

    async def close(self) -> None:
        await self._commits.close()
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    def wake(self, target_id: str) -> None:
        self._wakes.setdefault(target_id, asyncio.Event()).set()
        task = self._workers.get(target_id)
        if task is None or task.done():
            self._workers[target_id] = asyncio.create_task(self._work(target_id))

    async def _work(self, target_id: str) -> None:
        wake = self._wakes.setdefault(target_id, asyncio.Event())
        while True:
            wake.clear()
            pending = await self.store.messages.open_for(target_id, limit=1)
            if not pending:
                return
            rec = await self.sessions.get(target_id)
            msg = pending[0]
            try:
                wait = await self._step(rec, msg)
            except SmError as exc:
                await self._set(msg, "failed", exc.message)
                continue
            if wait is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=wait)

    async def _step(self, rec: SessionRecord, msg: MessageRecord) -> float | None:
        """Move ``msg`` one step. Returns how long to wait before looking again
        (None: until woken), or 0 to go on at once."""
        if not rec.is_live:
            await self._set(msg, "failed", f"session {rec.label} is {rec.state}")
            return 0
        if msg.state == "delivering":
            return await self._recover(rec, msg)
        state = State(rec.state)
        if state == State.STARTING:
            return await self._hold(msg, "waiting for the agent to start", None)
        if state == State.WAITING_PERMISSION:
            if await self._prompt_back(rec):
                # refused (Escape / No): Claude Code ends that turn with no hook at all
                await self.sessions.apply(rec.id, Signal("interrupted"), {
                    "message": msg.id, "screen": "prompt back after a permission prompt"})
                return 0
            return await self._hold(msg, "waiting: the agent shows a permission prompt",
                                    self.poll)
        if state == State.RUNNING:
            if msg.mode == "urgent":
                await self._interrupt(rec, msg)
                return 0
            if msg.mode == "sequential" or msg.kind == "clear":
                return await self._hold(msg, "waiting for the agent's turn to end", None)
        provider = self.sessions.providers[rec.provider]
        if provider.has_hooks:
            screen = await self._screen(rec)
            if screen.composer is None:  # still drawing, or a dialog is in front of it
                return await self._hold(msg, "waiting: no composer on the agent's screen", 0.1)
            if screen.composer:
                return await self._hold(msg, "waiting: text in the agent's composer", self.poll)
        await self._deliver(rec, msg)
        return 0

    async def _screen(self, rec: SessionRecord) -> Screen:
        """What the agent's pane shows (one capture-pane round trip)."""
        provider = self.sessions.providers[rec.provider]
        return provider.read_screen(await self.sessions.tmux.capture(rec.tmux_session,
                                                                     escapes=True))

    async def _prompt_back(self, rec: SessionRecord, settle: float = 0.1) -> bool:
        """Whether the agent's prompt is back and stays: a composer, no turn running, and
        the same screen ``settle`` seconds later. Streaming text (Codex shows no busy
        line then) changes the screen; a prompt at rest does not."""
        tmux = self.sessions.tmux
        provider = self.sessions.providers[rec.provider]
        first = await tmux.capture(rec.tmux_session, escapes=True)
        screen = provider.read_screen(first)
        if screen.busy or screen.composer is None:
            return False
        await asyncio.sleep(settle)
        return await tmux.capture(rec.tmux_session, escapes=True) == first

    async def _hold(self, msg: MessageRecord, reason: str, wait: float | None) -> float | None:
        if msg.reason != reason:
            async with self.store.write() as conn:
                await self.store.messages.update(conn, msg.id, self.clock(), reason=reason)
        return wait

    async def _interrupt(self, rec: SessionRecord, msg: MessageRecord) -> None:
        """Press the agent's interrupt key and wait until its prompt is back."""
        provider = self.sessions.providers[rec.provider]
        tmux = self.sessions.tmux
        await self._hold(msg, "interrupting the running turn", None)
        await tmux.send_keys(rec.tmux_session, provider.interrupt_key)
        deadline = self.clock() + 10.0
        while self.clock() < deadline:
            await asyncio.sleep(0.05)
            current = await self.sessions.get(rec.id)
            if current.state != State.RUNNING:
                return  # a hook said so (Codex: Interrupt)
            if await self._prompt_back(rec):  # Claude Code ends an interrupted turn silently
                await self.sessions.apply(rec.id, Signal("interrupted"),
                                          {"message": msg.id, "screen": "prompt back"})
                return
        raise SmError(f"the agent did not stop its turn within 10s of {provider.interrupt_key}")

    async def _deliver(self, rec: SessionRecord, msg: MessageRecord) -> None:
        provider = self.sessions.providers[rec.provider]
        tmux = self.sessions.tmux
        receipt = self._receipts.setdefault(msg.id, asyncio.Event())
        await self._set(msg, "delivering", None)
        if msg.kind == "clear":
            await self._type_clear(rec, msg, receipt)
            return
        text = render(msg)
        if provider.has_hooks:
            await tmux.paste(rec.tmux_session, text, buffer=f"sm-{msg.id}")
        else:
            await tmux.send_text(rec.tmux_session, text)
        await asyncio.sleep(provider.enter_delay)
        if not provider.has_hooks:
            await tmux.send_keys(rec.tmux_session, "Enter")
            await self._set(msg, "delivered", "typed; this agent has no hooks to confirm it")
            return
        await self._press_enter_until_receipt(rec, msg, receipt)

    async def _type_clear(
        self, rec: SessionRecord, msg: MessageRecord, receipt: asyncio.Event
    ) -> None:
        """Type the clear command literally (a slash command, not a paste) and press Enter
        until SessionStart(source=clear) shows a conversation other than ``rec``'s."""
        async with self.store.write() as conn:
            await self.store.messages.update(conn, msg.id, self.clock(),
                                             receipt_conv=rec.conversation_id)
        provider = self.sessions.providers[rec.provider]
        await self.sessions.tmux.send_text(rec.tmux_session, msg.body)
        await asyncio.sleep(max(provider.enter_delay, 0.05))
        await self._press_enter_until_receipt(rec, msg, receipt)

    async def _recover(self, rec: SessionRecord, msg: MessageRecord) -> float | None:
        """A message left ``delivering`` by a daemon that died mid-way: if its text is in
        the composer, press Enter; if not and no receipt came, it was never typed."""
        screen = await self._screen(rec)
        if screen.composer:
            receipt = self._receipts.setdefault(msg.id, asyncio.Event())
            await self._press_enter_until_receipt(rec, msg, receipt)
            return 0
        if msg.attempts == 0:
            async with self.store.write() as conn:
                await self.store.messages.update(conn, msg.id, self.clock(), state="queued",
                                                 reason="requeued: never typed before a restart")
            return 0
        await self._set(msg, "failed", "submitted before a daemon restart, but no receipt came")
        return 0

    async def _press_enter_until_receipt(
        self, rec: SessionRecord, msg: MessageRecord, receipt: asyncio.Event
    ) -> None:
        tmux = self.sessions.tmux
        for attempt in range(msg.attempts + 1, self.enter_tries + 1):
            async with self.store.write() as conn:
                await self.store.messages.update(conn, msg.id, self.clock(), attempts=attempt)
            await tmux.send_keys(rec.tmux_session, "Enter")
            try:
                await asyncio.wait_for(receipt.wait(), timeout=self.receipt_timeout)
                return
            except TimeoutError:
                pass
            current = await self.get(msg.id)
            if current.state != "delivering":
                return
            screen = await self._screen(rec)
            if not screen.composer:
                # submitted (the composer emptied) but the hook is late: wait, never retype
                try:
                    await asyncio.wait_for(receipt.wait(), timeout=self.receipt_timeout * 3)
                    return
                except TimeoutError:
                    break
        current = await self.get(msg.id)
        if current.state == "delivering":
            await self._set(msg, "failed",
                            f"no receipt from the agent after {current.attempts} Enter presses")

    async def _set(self, msg: MessageRecord, state: str, reason: str | None) -> None:
        now = self.clock()
        fields: dict[str, Any] = {"state": state, "reason": reason}
        if state == "delivered":
            fields["delivered_at"] = now
        async with self.store.write() as conn:
            await self.store.messages.update(conn, msg.id, now, **fields)
            event = await self.store.events.append(conn, now, msg.target_id, "message", {
                "id": msg.id, "state": state, "mode": msg.mode, "from": msg.sender_label,
                "reason": reason,
            })
        await self.bus.publish([event] if event else [])

    # -- facts from the agents -----------------------------------------------------------
    async def _on_event(self, ev: EventRecord) -> None:
        if ev.session_id is None:
            return
        if ev.kind == "state":
            if ev.session_id in self._wakes:
                self.wake(ev.session_id)
            return
        if ev.kind != "hook":
            return
        hook, data = ev.payload.get("event"), ev.payload.get("data") or {}
        if hook == "UserPromptSubmit":
            # Codex (its prompts carry a turn_id) folds a mid-turn message into the running
            # turn, so that turn's Stop is the message's; Claude Code answers it after
            await self._receipt(ev, data, busy=ev.payload.get("state") == State.RUNNING
                                and "turn_id" not in data)
        elif hook in ("Stop", "agent-turn-complete") and not ev.payload.get("ignored"):
            await self._turn_ended(ev, data)
        elif hook == "SessionStart" and data.get("source") == "clear":
            await self._clear_receipt(ev, data)
            await self._forget_turns(ev.session_id, "conversation cleared")

    async def _receipt(self, ev: EventRecord, data: dict[str, Any], busy: bool) -> None:
        prompt = str(data.get("prompt") or "")
        for message_id in _IDS.findall(prompt):
            msg = await self.store.messages.get(message_id)
            if msg is None or msg.target_id != ev.session_id or msg.state == "delivered":
                continue
            now = self.clock()
            async with self.store.write() as conn:
                await self.store.messages.update(
                    conn, msg.id, now, state="delivered", delivered_at=now, reason=None,
                    receipt_seq=ev.seq, receipt_conv=data.get("session_id"),
                    receipt_busy=int(busy),
                )
                event = await self.store.events.append(conn, now, msg.target_id, "message", {
                    "id": msg.id, "state": "delivered", "mode": msg.mode,
                    "from": msg.sender_label, "receipt": ev.seq,
                })
            self._receipts.pop(msg.id, asyncio.Event()).set()
            await self.bus.publish([event] if event else [])

    async def _clear_receipt(self, ev: EventRecord, data: dict[str, Any]) -> None:
        """A clear item being typed is delivered when the agent starts a new conversation."""
        assert ev.session_id is not None
        conv = data.get("session_id")
        for msg in await self.store.messages.open_for(ev.session_id):
            if msg.kind != "clear" or msg.state != "delivering":
                continue
            if conv and msg.receipt_conv == conv:
                continue  # the same conversation: not this clear
            now = self.clock()
            async with self.store.write() as conn:
                await self.store.messages.update(
                    conn, msg.id, now, state="delivered", delivered_at=now, reason=None,
                    receipt_seq=ev.seq, receipt_conv=conv,
                )
                event = await self.store.events.append(conn, now, msg.target_id, "message", {
                    "id": msg.id, "state": "delivered", "mode": msg.mode, "kind": msg.kind,
                    "from": msg.sender_label, "receipt": ev.seq,
                })
            self._receipts.pop(msg.id, asyncio.Event()).set()
            await self.bus.publish([event] if event else [])

    async def _turn_ended(self, ev: EventRecord, data: dict[str, Any]) -> None:
        """notify-on-stop: tell each sender whose message caused the turn that just
        ended. A message received mid-turn belongs to the next turn, not this one."""
        assert ev.session_id is not None
        conv = data.get("session_id") or data.get("thread-id")
        target = await self.sessions.get(ev.session_id)
        for msg in await self.store.messages.awaiting_stop(ev.session_id):
            if msg.receipt_seq is None or msg.receipt_seq > ev.seq:
                continue
            if conv and msg.receipt_conv and conv != msg.receipt_conv:
                continue  # a Stop of another conversation
            async with self.store.write() as conn:
                if msg.receipt_busy:
                    await self.store.messages.update(conn, msg.id, self.clock(), receipt_busy=0)
                    continue
                await self.store.messages.update(conn, msg.id, self.clock(), notified=1)
            if msg.sender_id is None:
                continue
            sender = await self.sessions.get(msg.sender_id)
            replied = await self.store.messages.sent_since(
                target.id, sender.id, msg.delivered_at or msg.created_at
            )
            if not replied:
                text = target.last_message or ""
                await self.notify(sender, f"{target.label} stopped: {text}")

    async def _forget_turns(self, session_id: str, reason: str) -> None:
        async with self.store.write() as conn:
            for msg in await self.store.messages.awaiting_stop(session_id):
                await self.store.messages.update(conn, msg.id, self.clock(), notified=1)
