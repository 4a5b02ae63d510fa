"""Approve from the phone: a permission prompt's buttons press the agent's own keys.

The pending approval is a row (written by the mirror with its message). A press
settles the row first — so two presses, or a press and the timeout, cannot both act
— then presses the agent's key in its tmux pane, then edits the message to say who
answered. A prompt left unanswered past ``telegram.permission_timeout`` is denied
(fail closed), and the message says so. Keys are only pressed while the session
still shows the prompt: never into a composer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sm.core.caller import Caller
from sm.errors import NotFound, SmError
from sm.ops import Ops
from sm.ops.sessions import Decision
from sm.store import Store
from sm.store.sessions import SessionRecord
from sm.store.telegram import ApprovalRecord, OutboxItem, TelegramRows
from sm.telegram import format as fmt
from sm.telegram.outbox import Outbox
from sm.vocab import SessionState

log = logging.getLogger("sm.telegram")

_STATES = {"1": "allowed", "2": "always", "3": "denied"}
_DECISIONS: dict[str, Decision] = {"1": "allow", "2": "always", "3": "deny"}


class Approvals:
    def __init__(
        self, store: Store, rows: TelegramRows, ops: Ops, caller: Caller, outbox: Outbox,
        timeout: float, clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rows = rows
        self.ops = ops
        self.caller = caller
        self.outbox = outbox
        self.timeout = timeout
        self.clock = clock

    async def press(self, approval_id: int, key: str, who: str) -> str:
        """A human pressed a button: answer the prompt. Returns what the button's
        spinner says. Idempotent: a second press is told who was first."""
        if key not in _STATES:
            return "unknown button"
        ap = await self.rows.approvals.get(approval_id)
        if ap is None:
            return "unknown prompt"
        if ap.state != "pending":
            by = f" by {ap.answered_by}" if ap.answered_by else ""
            return f"already answered ({ap.state}{by})"
        rec = await self._session(ap.session_id)
        if rec.state != SessionState.WAITING_PERMISSION:
            await self._settle(ap, "gone", "terminal", "answered in the terminal")
            return "the prompt is gone"
        outcome = f"{fmt.APPROVAL_WORDS[key]} by {who}"
        if not await self._settle(ap, _STATES[key], who, outcome):
            return "someone answered first"
        if not await self._press(ap, key):
            return "could not reach the agent"
        return fmt.APPROVAL_WORDS[key]

    async def expire(self) -> int:
        """Deny every prompt past its deadline; returns how many."""
        due = await self.rows.approvals.pending(due_before=self.clock())
        for ap in due:
            rec = await self._session(ap.session_id)
            if rec.state != SessionState.WAITING_PERMISSION:
                await self._settle(ap, "gone", "terminal", "answered in the terminal")
                continue
            outcome = f"denied: no answer within {self.timeout:g}s"
            if await self._settle(ap, "expired", "timeout", outcome):
                log.info("telegram: %s's permission prompt timed out; denying", rec.label)
                await self._press(ap, "3")
        return len(due)

    async def _session(self, session_id: str) -> SessionRecord:
        rec = await self.store.sessions.get(session_id)
        if rec is None:
            raise NotFound(f"no session {session_id!r}")
        return rec

    async def _settle(self, ap: ApprovalRecord, state: str, by: str, outcome: str) -> bool:
        rec = await self._session(ap.session_id)
        plain, html = fmt.approval_settled(rec.label, ap.tool, outcome)
        async with self.store.write() as conn:
            if not await self.rows.approvals.settle(conn, ap.id, state, by, self.clock()):
                return False
            await self.rows.outbox.enqueue(conn, OutboxItem("edit", plain, html,
                                                     ref=f"approval:{ap.id}"), self.clock())
        self.outbox.wake()
        return True

    async def _press(self, ap: ApprovalRecord, key: str) -> bool:
        rec = await self._session(ap.session_id)
        if rec.state != SessionState.WAITING_PERMISSION:
            return False  # answered in the terminal meanwhile: a key now would be typed
        try:
            await self.ops.sessions.answer(self.caller, rec.id, _DECISIONS[key])
        except SmError as exc:
            log.warning("telegram: cannot answer %s's prompt: %s", rec.label, exc.message)
            await self.outbox.put(OutboxItem(
                "send", f"✗ could not answer the prompt: {exc.message}", session_id=rec.id))
            return False
        return True
