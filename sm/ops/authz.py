"""Who may do what. Every operation asks here before it acts.

    the operator          everything
    a session, on itself  manage it (kill, clear, rename …), read its screen, events, messages
    a session, on another manage and read it only as one of its ancestors (parent, …)
    anyone                list sessions and see their state (names, states, status lines)

A message is readable by its sender, its target, and whoever may read either of them.
A job is managed (cancelled, retried, requeued) by the operator and whoever added it; a
session may cancel the job it works on.
"""

from __future__ import annotations

from sm.core.caller import Caller
from sm.errors import Refused
from sm.store import Store
from sm.store.jobs import JobRecord
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord


class Authz:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def is_ancestor(self, caller: Caller, target: SessionRecord) -> bool:
        return caller.id is not None and caller.id in await self.store.sessions.ancestors(
            target.id)

    async def may_manage(self, caller: Caller, target: SessionRecord) -> bool:
        """The operator, the session itself and its ancestors."""
        if caller.is_operator or caller.id == target.id:
            return True
        return await self.is_ancestor(caller, target)

    async def check_manage(self, caller: Caller, target: SessionRecord, verb: str = "manage"
                           ) -> None:
        """Raises Refused unless ``caller`` may manage ``target``."""
        if not await self.may_manage(caller, target):
            raise Refused(f"session {caller.label} may not {verb} {target.label}: "
                          "only the operator, the session itself or its ancestors may")

    async def check_read(self, caller: Caller, target: SessionRecord, what: str) -> None:
        """Raises Refused unless ``caller`` may read ``what`` of ``target``."""
        if not await self.may_manage(caller, target):
            raise Refused(f"session {caller.label} may not read {target.label}'s {what}: "
                          "only the operator, the session itself or its ancestors may")

    async def check_operator(self, caller: Caller, what: str) -> None:
        if not caller.is_operator:
            raise Refused(f"{what} is for the operator, not session {caller.label}")

    async def visible(self, caller: Caller) -> list[str] | None:
        """The sessions whose events and messages ``caller`` may read (None: all)."""
        if caller.id is None:
            return None
        return [caller.id, *await self.store.sessions.descendants(caller.id)]

    async def check_message(self, caller: Caller, msg: MessageRecord) -> None:
        """Raises Refused unless ``caller`` may read ``msg``."""
        seen = await self.visible(caller)
        if seen is None or msg.target_id in seen or (msg.sender_id or "") in seen:
            return
        raise Refused(f"message {msg.id} is neither from nor to session {caller.label} "
                      "or its children")

    async def check_cancel(self, caller: Caller, msg: MessageRecord, target: SessionRecord
                           ) -> None:
        """The operator, the sender, and the target's ancestors may cancel a message."""
        if caller.is_operator or (msg.sender_id is not None and msg.sender_id == caller.id):
            return
        if await self.is_ancestor(caller, target):
            return
        raise Refused(f"session {caller.label} may not cancel message {msg.id}: only its "
                      "sender, the operator or the target's ancestors may")

    def check_job(self, caller: Caller, job: JobRecord, verb: str,
                  own_session: bool = False) -> None:
        """Raises Refused unless ``caller`` is the operator or added ``job`` (or, with
        ``own_session``, is the session working on it)."""
        if caller.is_operator or caller.id == job.created_by:
            return
        if own_session and caller.id is not None and caller.id == job.session_id:
            return
        raise Refused(f"session {caller.label} may not {verb} job {job.label}: "
                      f"{job.creator} added it")
