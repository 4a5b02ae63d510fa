"""Accepting messages: the durable queue's writes.

A message's row (and its ``message`` event) is committed before anything is typed; the
caller gets it back at once — typing is the workers' business, never the sender's.
Every change of a message's state goes through ``move``: a compare-and-set on the row
plus an event, so two facts racing for one message cannot both move it.

What a target takes is its provider's ``intake``: an agent's composer takes any text
behind sm's header; a shell's command line takes one line as given (more lines are
refused unless the sender asks for ``raw``), and sm's own notices are recorded for it
as ``cancelled`` with the reason, never typed.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiosqlite

from sm.agents.base import Intake, Provider
from sm.core.caller import Caller
from sm.core.commits import GroupCommit
from sm.core.events import EventBus
from sm.errors import InvalidInput
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, EventKind, MessageKind, MessageState, parse

# (connection, the notice): runs in the notice's own transaction
Then = Callable[[aiosqlite.Connection, MessageRecord], Awaitable[None]]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
ID_BYTES = 8  # 64-bit ids: a collision is out of reach at any realistic volume


def render(message: MessageRecord) -> str:
    """The text typed into the agent: a one-line header, then the body."""
    return f"{header(message.id, message.sender_label)} {message.body}"


def typed(message: MessageRecord, provider: Provider) -> str:
    """What is typed for ``message``: the body as given for a raw message or a command
    line, else the header and the body."""
    if message.kind == MessageKind.RAW or provider.intake == Intake.COMMAND_LINE:
        return message.body
    return render(message)


NO_NOTICES = "a shell session takes no sm notices: sm never types them into its command line"


def header(message_id: str, sender: str) -> str:
    return f"[sm {message_id} from {sender}]"


def clean_body(body: str) -> str:
    """Control characters (other than newline and tab) are made visible as ``^X``:
    typed raw they would press keys in the agent's terminal."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub(lambda m: "^" + chr((ord(m.group()) + 64) % 128), body)


def mode_of(value: str) -> DeliveryMode:
    """Raises InvalidInput naming the valid modes."""
    return parse(DeliveryMode, value, "mode")


class Queue:
    def __init__(
        self, store: Store, bus: EventBus, *, max_bytes: int,
        intake_of: Callable[[str], Intake] = lambda _provider: Intake.PROMPT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.intake_of = intake_of  # provider name → how its program takes messages
        self.max_bytes = max_bytes
        self.clock = clock
        # accepts never wait behind delivery: concurrent ones share a transaction
        self._commits = GroupCommit(store)

    async def close(self) -> None:
        await self._commits.close()

    def check_body(self, body: str) -> str:
        """The body as it will be typed. Raises InvalidInput when empty or too big."""
        body = clean_body(body)
        if not body.strip():
            raise InvalidInput("the message is empty")
        size = len(body.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise InvalidInput(
                f"message is {size} bytes; the limit is {self.max_bytes} (limits.max_prompt_bytes)"
            )
        return body

    async def send(
        self,
        caller: Caller,
        targets: Sequence[SessionRecord],
        body: str,
        mode: DeliveryMode = DeliveryMode.SEQUENTIAL,
        *,
        notify_on_stop: bool | None = None,
        sender_label: str | None = None,
        expires_at: float | None = None,
        raw: bool = False,
        notice: bool = False,
    ) -> list[MessageRecord]:
        """Accept one message per target, each in its own transaction. A dead target
        gets a ``failed`` row with the reason. notify-on-stop defaults on when the
        sender is the target's parent. ``raw``: typed as given, with no header (and no
        receipt). ``notice``: a notice sm writes on the caller's behalf (``[sm] …``),
        which a shell records ``cancelled``. Raises InvalidInput (empty, too big, no
        target, more than one line for a command line unless ``raw``) before accepting
        any."""
        body = self.check_body(body)
        if not targets:
            raise InvalidInput("no target session given")
        bodies = [body if raw or notice else self._shaped(target, body) for target in targets]
        kind = MessageKind.RAW if raw else MessageKind.TEXT
        label = sender_label or caller.label
        out = []
        for target, text in zip(targets, bodies, strict=True):
            notify = notify_on_stop
            if notify is None:
                notify = caller.id is not None and target.parent_id == caller.id
            out.append(await self.accept(caller.id, label, target, text, mode, notify=notify,
                                         kind=kind, expires_at=expires_at, notice=notice))
        return out

    def intake(self, target: SessionRecord) -> Intake:
        return self.intake_of(target.provider)

    def _shaped(self, target: SessionRecord, body: str) -> str:
        """The body as ``target`` takes it. Raises InvalidInput for more than one line
        into a command line: every line would run as a command."""
        if self.intake(target) != Intake.COMMAND_LINE:
            return body
        line = body.strip("\n")
        if "\n" in line:
            raise InvalidInput(
                f"session {target.label} is a shell: a message is typed as one command "
                f"line, and this one has {line.count(chr(10)) + 1} lines; send one line, "
                "or --raw to type it as given (each line runs)")
        return line

    async def notify(
        self, target: SessionRecord, body: str, mode: DeliveryMode = DeliveryMode.SEQUENTIAL,
        then: Then | None = None,
    ) -> MessageRecord | None:
        """A notice from sm itself (``[sm … from sm]``), queued like any message (None:
        the target is dead). ``then(conn, message)`` runs in the same transaction: the
        fact that caused the notice is written with it, so a crash neither loses nor
        repeats it."""
        if not target.is_live:
            return None
        return await self.accept(None, "sm", target, clean_body(body), mode, then=then,
                                 notice=True)

    async def clear(
        self, caller: Caller, target: SessionRecord, command: str, mode: DeliveryMode
    ) -> MessageRecord:
        """Queue a conversation clear: ``command`` typed by the target's worker in queue
        order, confirmed by the agent starting a new conversation."""
        return await self.accept(caller.id, caller.label, target, command, mode,
                                 kind=MessageKind.CLEAR)

    async def accept(
        self, sender_id: str | None, label: str, target: SessionRecord, body: str,
        mode: DeliveryMode, *, notify: bool = False, kind: MessageKind = MessageKind.TEXT,
        expires_at: float | None = None, then: Then | None = None, notice: bool = False,
    ) -> MessageRecord:
        """Write one message (and its event); returns once committed. ``notice``: sm's
        own (a shell records it ``cancelled``)."""
        msg, payload = self._new(sender_id, label, target, body, mode, notify, kind, expires_at,
                                 notice)
        if then is None:
            event: EventRecord | None = await self._commits.add(msg, payload)
        else:
            async with self.store.write() as conn:
                await self.store.messages.insert(conn, msg)
                event = await self.store.events.append(conn, msg.created_at, target.id,
                                                       EventKind.MESSAGE, payload)
                await then(conn, msg)
        await self.bus.publish([event])
        return msg

    async def accept_in(
        self, conn: aiosqlite.Connection, sender_id: str | None, label: str,
        target: SessionRecord, body: str, mode: DeliveryMode, *, notify: bool = False,
        kind: MessageKind = MessageKind.TEXT, expires_at: float | None = None,
        notice: bool = False,
    ) -> tuple[MessageRecord, EventRecord | None]:
        """Insert a message inside the caller's transaction; publish the event after."""
        msg, payload = self._new(sender_id, label, target, body, mode, notify, kind, expires_at,
                                 notice)
        await self.store.messages.insert(conn, msg)
        event = await self.store.events.append(conn, msg.created_at, target.id,
                                               EventKind.MESSAGE, payload)
        return msg, event

    def _new(
        self, sender_id: str | None, label: str, target: SessionRecord, body: str,
        mode: DeliveryMode, notify: bool, kind: MessageKind, expires_at: float | None,
        notice: bool = False,
    ) -> tuple[MessageRecord, dict[str, Any]]:
        now = self.clock()
        state, reason = MessageState.QUEUED, None
        if not target.is_live:
            state, reason = MessageState.FAILED, f"session {target.label} is {target.state}"
        elif notice and self.intake(target) == Intake.COMMAND_LINE:
            state, reason = MessageState.CANCELLED, NO_NOTICES
        msg = MessageRecord(
            id=secrets.token_hex(ID_BYTES), sender_id=sender_id, sender_label=label,
            target_id=target.id, mode=mode, body=body, state=state, reason=reason, attempts=0,
            notify_on_stop=notify, receipt_seq=None, receipt_conv=None, receipt_busy=False,
            notified=False, created_at=now, updated_at=now, delivered_at=None, kind=kind,
            expires_at=expires_at,
        )
        return msg, {
            "id": msg.id, "state": state, "mode": mode, "from": label, "reason": reason,
            **({"kind": kind} if kind != MessageKind.TEXT else {}),
        }

    async def move(
        self, msg: MessageRecord, to: MessageState, reason: str | None, *,
        from_states: tuple[MessageState, ...] | None = None, **fields: Any,
    ) -> bool:
        """Move ``msg`` to ``to`` (only from ``from_states``, default: its open states)
        with an event. Returns False when another fact moved it first."""
        async with self.store.write() as conn:
            event = await self.move_in(conn, msg, to, reason, from_states=from_states, **fields)
        await self.bus.publish([event])
        return event is not None

    async def move_in(
        self, conn: aiosqlite.Connection, msg: MessageRecord, to: MessageState,
        reason: str | None, *, from_states: tuple[MessageState, ...] | None = None,
        **fields: Any,
    ) -> EventRecord | None:
        if to == MessageState.QUEUED and not reason:
            # an accept's event is the one queued event without a reason (Workers reads
            # it so): a message moved back says why
            raise ValueError(f"message {msg.id} moved back to queued with no reason")
        now = self.clock()
        if to == MessageState.DELIVERED:
            fields.setdefault("delivered_at", now)
        allowed = from_states or (MessageState.QUEUED, MessageState.DELIVERING)
        if not await self.store.messages.move(conn, msg.id, now, allowed, state=to,
                                              reason=reason, **fields):
            return None
        extra = {"receipt": fields["receipt_seq"]} if "receipt_seq" in fields else {}
        return await self.store.events.append(conn, now, msg.target_id, EventKind.MESSAGE, {
            "id": msg.id, "state": to, "mode": msg.mode, "from": msg.sender_label,
            "reason": reason, **({"kind": msg.kind} if msg.kind != MessageKind.TEXT else {}),
            **extra,
        })

    async def note(self, msg: MessageRecord, **fields: Any) -> None:
        """Record progress on an open message (its reason, attempts) without an event."""
        async with self.store.write() as conn:
            await self.store.messages.update(conn, msg.id, self.clock(), **fields)

    async def expire_due(self) -> int:
        """Expire queued messages whose deadline passed; returns how many."""
        count = 0
        for msg in await self.store.messages.expiring(self.clock()):
            count += await self.move(msg, MessageState.EXPIRED, "its deadline passed before "
                                     "it could be delivered", from_states=(MessageState.QUEUED,))
        return count
