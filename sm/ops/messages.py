"""Message operations: send, list, show, cancel."""

from __future__ import annotations

from sm.agents.base import Intake
from sm.core import refs
from sm.core.caller import Caller
from sm.core.delivery import Queue, mode_of
from sm.errors import InvalidInput, Refused
from sm.ops.authz import Authz
from sm.store import Store
from sm.store.messages import MessageRecord
from sm.vocab import MessageState, parse

MAX_TARGETS = 100
MAX_TTL = 30 * 86400.0


class MessageOps:
    def __init__(self, store: Store, queue: Queue, authz: Authz) -> None:
        self.store = store
        self.queue = queue
        self.authz = authz

    async def send(
        self, caller: Caller, targets: list[str], body: str, mode: str = "sequential", *,
        notify_on_stop: bool | None = None, sender: str | None = None,
        ttl: float | None = None, raw: bool = False,
    ) -> list[MessageRecord]:
        """Accept a message for each target; returns once durably queued (never claims
        a delivery that has not happened). A session speaks as itself; only the
        operator's clients name another sender (``human``). ``ttl``: seconds after
        which an undelivered message expires. ``raw``: typed as given, no header (the
        caller must manage every target). A target whose program takes a command line
        (a shell) runs what it is sent: only its managers may send to it. Raises
        InvalidInput, NotFound, Refused."""
        if sender and not caller.is_operator:
            raise Refused("a session speaks as itself; only the operator may set the sender")
        if len(targets) > MAX_TARGETS:
            raise InvalidInput(f"{len(targets)} targets; the limit is {MAX_TARGETS}")
        if ttl is not None and not 0 < ttl <= MAX_TTL:
            raise InvalidInput(f"ttl {ttl}: expected more than 0 and at most {MAX_TTL:g} seconds")
        kind = mode_of(mode)
        resolved = [await refs.session(self.store, t) for t in targets]
        for target in resolved:
            if raw:
                await self.authz.check_manage(caller, target, "type raw text into")
            elif self.queue.intake(target) == Intake.COMMAND_LINE:
                await self.authz.check_manage(caller, target, "run commands in")
        expires = self.queue.clock() + ttl if ttl is not None else None
        return await self.queue.send(caller, resolved, body, kind, notify_on_stop=notify_on_stop,
                                     sender_label=sender, expires_at=expires, raw=raw)

    async def list(
        self, caller: Caller, *, to: str | None = None, sender: str | None = None,
        states: list[str] | None = None, limit: int = 100, newest: bool = True,
    ) -> list[MessageRecord]:
        """Messages the caller may read (all for the operator; a session's own and its
        children's), oldest first; ``newest``: the last ``limit`` of them."""
        target_id = (await refs.session(self.store, to)).id if to else None
        sender_id = (await refs.session(self.store, sender)).id if sender else None
        wanted = tuple(_state(s) for s in states or ())
        return await self.store.messages.list(
            target_id=target_id, sender_id=sender_id, states=wanted,
            visible_to=await self.authz.visible(caller), limit=max(1, min(limit, 1000)),
            newest=newest,
        )

    async def get(self, caller: Caller, ref: str) -> MessageRecord:
        msg = await refs.message(self.store, ref)
        await self.authz.check_message(caller, msg)
        return msg

    async def cancel(self, caller: Caller, ref: str) -> MessageRecord:
        """Cancel a queued message. Raises Refused (not the sender, the operator or an
        ancestor of the target), InvalidInput (no longer queued)."""
        msg = await refs.message(self.store, ref)
        target = await refs.session(self.store, msg.target_id)
        await self.authz.check_cancel(caller, msg, target)
        if msg.state != MessageState.QUEUED or not await self.queue.move(
                msg, MessageState.CANCELLED, f"cancelled by {caller.label}",
                from_states=(MessageState.QUEUED,)):
            current = await refs.message(self.store, msg.id)
            raise InvalidInput(f"message {msg.id} is {current.state}; only a queued one is "
                               "cancelled")
        return await refs.message(self.store, msg.id)


def _state(value: str) -> MessageState:
    return parse(MessageState, value, "message state")
