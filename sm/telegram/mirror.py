"""The mirror: sm's event log → the outbox, exactly once, from a durable cursor.

The bus listener only notes the highest committed seq and wakes this task. The task
reads events after its cursor (never past what was published, so never an
uncommitted one), turns each into outbox rows, and writes the rows and the new
cursor in one transaction: a restart neither repeats nor skips a fact. One fact, one
notification: a crash shows once in the session's thread (silently, in a forum) and
once as an alert in the operator chat (General), which is the one that rings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sm.config import TelegramSettings
from sm.core.budgets import dollars
from sm.core.usage import context_notice, window_text
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.store.telegram import OutboxItem, TelegramRows
from sm.telegram import format as fmt
from sm.telegram.outbox import Outbox
from sm.vocab import EventKind, SessionState

log = logging.getLogger("sm.telegram")

CURSOR = "mirror_cursor"
_DEAD = {"stopped": "stopped", "exited": "exited", "error": "crashed"}


@dataclass(frozen=True)
class _Approval:
    """A permission prompt to put before the human, with its message."""

    session_id: str
    hook_seq: int
    tool: str
    deadline: float
    label: str


@dataclass(frozen=True)
class _Settle:
    """The agent left its permission prompt: pending approvals are void."""

    session_id: str
    label: str


Op = OutboxItem | _Approval | _Settle


class Mirror:
    def __init__(
        self, store: Store, rows: TelegramRows, outbox: Outbox, settings: TelegramSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rows = rows
        self.outbox = outbox
        self.settings = settings
        self.clock = clock
        self.gate = asyncio.Lock()  # held by whoever must commit before the mirror reads
        self.cursor = 0
        self._high = 0
        self._wake = asyncio.Event()

    async def open(self) -> None:
        """Load the cursor; the first time, start at the present (no history replay)."""
        latest = await self.store.events.list(limit=1, newest=True)
        self._high = max(self._high, latest[-1].seq if latest else 0)
        saved = await self.rows.state.get(CURSOR)
        if saved is None:
            async with self.store.write() as conn:
                await self.rows.state.set(conn, CURSOR, str(self._high))
            saved = str(self._high)
        self.cursor = int(saved)
        if self.cursor < self._high:
            self._wake.set()

    async def on_event(self, ev: EventRecord) -> None:
        """The bus listener: O(1), never waits on anything."""
        if ev.seq > self._high:
            self._high = ev.seq
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while await self._batch():
                pass

    async def _batch(self) -> bool:
        async with self.gate:
            events = await self.store.events.list(after=self.cursor, limit=100)
            events = [e for e in events if e.seq <= self._high]
            if not events:
                return False
            ops: list[Op] = []
            for ev in events:
                try:
                    ops += await self._translate(ev)
                except Exception:  # one odd event must not stop the mirror
                    log.exception("telegram: cannot mirror event %d (%s)", ev.seq, ev.kind)
            now = self.clock()
            async with self.store.write() as conn:
                for op in ops:
                    if isinstance(op, OutboxItem):
                        await self.rows.outbox.enqueue(conn, op, now)
                    elif isinstance(op, _Approval):
                        await self._add_approval(conn, op, now)
                    else:
                        await self._settle(conn, op, now)
                await self.rows.state.set(conn, CURSOR, str(events[-1].seq))
            self.cursor = events[-1].seq
        if ops:
            self.outbox.wake()
        return True

    async def _add_approval(self, conn: Any, op: _Approval, now: float) -> None:
        approval_id = await self.rows.approvals.add(conn, op.session_id, op.hook_seq, op.tool,
                                                   op.deadline, now)
        if approval_id is None:
            return
        plain, html = fmt.approval(op.label, op.tool, self.settings.permission_timeout)
        buttons = [[(label, f"perm:{approval_id}:{key}") for label, key in fmt.APPROVAL_BUTTONS]]
        await self.rows.outbox.enqueue(conn, OutboxItem(
            "send", plain, html, session_id=op.session_id, markup=buttons,
            ref=f"approval:{approval_id}", silent=True), now)
        what = f"{op.label} waits on a permission prompt{' for ' + op.tool if op.tool else ''}"
        await self.rows.outbox.enqueue(conn, _alert(what, covered=True), now)

    async def _settle(self, conn: Any, op: _Settle, now: float) -> None:
        for ap in await self.rows.approvals.pending(session_id=op.session_id):
            if await self.rows.approvals.settle(conn, ap.id, "gone", "terminal", now):
                plain, html = fmt.approval_settled(op.label, ap.tool, "answered in the terminal")
                await self.rows.outbox.enqueue(conn, OutboxItem("edit", plain, html,
                                                         ref=f"approval:{ap.id}"), now)

    # -- facts → ops ----------------------------------------------------------------
    async def _translate(self, ev: EventRecord) -> list[Op]:
        if _is_deadlock(ev):
            return [await self._deadlock(ev)]
        if ev.kind == EventKind.ASK:
            return await self._ask(ev)
        if ev.kind == EventKind.BUDGET:
            return _budget(ev)
        if ev.kind == EventKind.INBOX:
            return await self._note(ev)
        if ev.session_id is None:
            return []
        rec = await self.store.sessions.get(ev.session_id)
        if rec is None:
            return []
        if ev.kind == EventKind.SPAWNED:
            detail = f"{rec.provider} in {rec.cwd}"
            if ev.payload.get("held"):
                detail += f" — held: {ev.payload['held']}"
            return [_line(rec, fmt.lifecycle(rec.label, "spawned", detail))]
        if ev.kind == EventKind.RENAMED:
            old = ev.payload.get("from") or rec.id
            return [OutboxItem("rename", str(ev.payload.get("to") or rec.label),
                               session_id=rec.id),
                    _line(rec, fmt.lifecycle(rec.label, "renamed", f"was {old}"))]
        if ev.kind == EventKind.CLEARED:  # the conversation was cleared (whoever typed the clear)
            what = "handed over to a new conversation" if ev.payload.get("handoff") else ""
            return [_line(rec, fmt.lifecycle(rec.label, "cleared", what))]
        if ev.kind == EventKind.STATE:
            return self._state(ev, rec)
        if ev.kind == EventKind.HOOK:
            return self._hook(ev, rec)
        if ev.kind == EventKind.MESSAGE:
            return await self._message(ev, rec)
        if ev.kind == EventKind.HEALTH:
            return _health(ev, rec)
        if ev.kind == EventKind.CONTEXT:
            return _context(ev, rec)
        return []

    async def _ask(self, ev: EventRecord) -> list[Op]:
        """A question for the human: post it (with a button per choice), then edit it
        to say how it was settled."""
        p = ev.payload
        ask_id = str(p.get("id") or "")
        ask = await self.store.asks.get(ask_id)
        if ask is None:
            return []
        label = "operator"
        if ask.session_id:
            rec = await self.store.sessions.get(ask.session_id)
            label = rec.label if rec else ask.session_id
        if p.get("action") == "asked":
            plain, html = fmt.question(label, ask.question, ask.choices)
            buttons = [(c, f"ask:{ask.id}:{i}") for i, c in enumerate(ask.choices)]
            markup = [buttons[i:i + 3] for i in range(0, len(buttons), 3)] or None
            return [OutboxItem("send" if ask.session_id else "alert", plain, html,
                               session_id=ask.session_id, markup=markup, ref=f"ask:{ask.id}")]
        answer, who = p.get("answer"), p.get("by")
        outcome = f"{answer} (by {who})" if answer is not None else "no answer in time"
        plain, html = fmt.question_settled(label, ask.question, outcome)
        return [OutboxItem("edit", plain, html, ref=f"ask:{ask.id}")]

    async def _note(self, ev: EventRecord) -> list[Op]:
        """A note to the operator's inbox: to the operator chat, once (not its reading)."""
        if ev.payload.get("action") != "written":
            return []
        note = await self.store.inbox.get(str(ev.payload.get("id") or ""))
        if note is None:
            return []
        return [OutboxItem("alert", plain, html, dedupe_key=f"note:{note.id}:{i}")
                for i, (plain, html) in enumerate(fmt.note(note.sender_label, note.body,
                                                           note.id))]

    def _state(self, ev: EventRecord, rec: SessionRecord) -> list[Op]:
        old, new = ev.payload.get("from"), ev.payload.get("to")
        ops: list[Op] = []
        if old == SessionState.WAITING_PERMISSION and new != SessionState.WAITING_PERMISSION:
            ops.append(_Settle(rec.id, rec.label))
        if new in _DEAD:
            what = _DEAD[str(new)]
            detail = ""
            status = (ev.payload.get("evidence") or {}).get("error") or ev.payload.get("detail")
            if new == SessionState.ERROR:
                detail = f"exit status {status}" if str(status).isdigit() else str(status or "")
            ops.append(_line(rec, fmt.lifecycle(rec.label, what, detail), silent=new == "error"))
            if new == SessionState.ERROR:
                ops.append(_alert(f"{rec.label} crashed{' — ' + detail if detail else ''}",
                                  covered=True))
            ops.append(OutboxItem("close", session_id=rec.id))
        elif ev.payload.get("signal") == "restore":
            ops.append(OutboxItem("reopen", session_id=rec.id))
            ops.append(_line(rec, fmt.lifecycle(rec.label, "restored")))
        return ops

    def _hook(self, ev: EventRecord, rec: SessionRecord) -> list[Op]:
        hook = ev.payload.get("event")
        data = ev.payload.get("data") or {}
        if hook in ("Stop", "agent-turn-complete"):
            text = data.get("last_assistant_message", data.get("last-assistant-message"))
            if not text:
                return []
            return [OutboxItem("send", plain, html, session_id=rec.id)
                    for plain, html in fmt.turn(rec.label, str(text))]
        if hook == "PermissionRequest" or (
                hook == "Notification" and data.get("notification_type") == "permission_prompt"):
            if rec.state != SessionState.WAITING_PERMISSION:
                return []  # answered (or gone) before we got here
            tool = str(data.get("tool_name") or _tool_of(str(data.get("message") or "")))
            return [_Approval(rec.id, ev.seq, tool, ev.ts + self.settings.permission_timeout,
                              rec.label)]
        return []

    async def _message(self, ev: EventRecord, rec: SessionRecord) -> list[Op]:
        p = ev.payload
        msg_id, state = str(p.get("id") or ""), str(p.get("state") or "")
        msg = await self.store.messages.get(msg_id)
        if msg is None or msg.kind != "text":
            return []  # a queued clear shows as "cleared" when the agent confirms it
        owed = await self.rows.inbound.receipt_for(msg.id)
        ops: list[Op] = []
        first = ev.ts == msg.created_at and state in ("queued", "failed")
        if first and owed is None:
            ops += [OutboxItem("send", plain, html, session_id=rec.id)
                    for plain, html in fmt.message(msg.sender_label, msg.mode, msg.body, msg.id)]
        if state in ("delivered", "failed", "expired", "cancelled") and owed is not None:
            chat_id, thread_id, tg_mid = owed
            plain, html = fmt.receipt(rec.label, msg.id, state, p.get("reason"))
            ops.append(OutboxItem("send", plain, html, chat_id=chat_id, thread_id=thread_id,
                                  reply_to=tg_mid, dedupe_key=f"receipt:{msg.id}"))
        elif state == "failed":
            ops.append(_alert(f"message {msg.id} from {msg.sender_label} to {rec.label} "
                              f"failed: {p.get('reason') or 'no reason given'}"))
        return ops

    async def _deadlock(self, ev: EventRecord) -> OutboxItem:
        p = ev.payload
        who = ""
        if ev.session_id:
            rec = await self.store.sessions.get(ev.session_id)
            who = f"{rec.label}: " if rec else ""
        detail = p.get("detail") or p.get("deadlock") or p.get("cycle") or p
        return _alert(f"lock deadlock — {who}{detail}"[:3500])


def _is_deadlock(ev: EventRecord) -> bool:
    """A lock request refused because it would close a wait-for cycle: an event of kind
    ``deadlock``, or one whose payload says so (the lock log's ``action``)."""
    p = ev.payload
    return ev.kind == "deadlock" or "deadlock" in p or p.get("action") == "deadlock"


def _budget(ev: EventRecord) -> list[Op]:
    """A budget's warning or stop: an alert to the operator (a change the operator made
    is not echoed)."""
    p = ev.payload
    if p.get("change") or p.get("level") not in ("warn", "exceeded"):
        return []
    scope, key = p.get("scope"), p.get("key")
    what = {"session": f"session {p.get('label') or key}'s budget",
            "project": f"the budget of project {key}"}.get(str(scope), "today's budget")
    spent = f"{dollars(int(p.get('spent_micros') or 0))} of " \
            f"{dollars(int(p.get('limit_micros') or 0))}"
    if p.get("level") == "warn":
        return [_alert(f"budget: {what} is at {round(float(p.get('percent') or 0))}% "
                       f"({spent})")]
    then = "turns interrupted, deliveries paused" if p.get("stop") else "nothing stopped"
    return [_alert(f"budget: {what} is reached ({spent}): {then}")]


def _health(ev: EventRecord, rec: SessionRecord) -> list[Op]:
    """A stall, or a turn that failed (rate limit, overloaded, auth, context): a line in
    the session's thread and an alert, as a crash is (a crash is told by its state, a
    tool error only recorded)."""
    p = ev.payload
    if p.get("check") == "stalled":
        what = f"{rec.label} stalled — {p.get('detail') or 'no hook and no output'}"
        return [_line(rec, fmt.lifecycle(rec.label, "stalled", str(p.get("detail") or "")),
                      silent=True), _alert(what, covered=True)]
    cls = str(p.get("class") or "")
    if p.get("check") != "failure" or cls in ("crash", "tool_error"):
        return []
    reset = p.get("reset_at")
    until = f" until {time.strftime('%H:%M:%S', time.localtime(reset))}" \
        if isinstance(reset, int | float) else ""
    detail = f"{cls}{until}: {p.get('detail') or ''}".rstrip(": ")
    return [_line(rec, fmt.lifecycle(rec.label, "turn failed", detail), silent=True),
            _alert(f"{rec.label}'s turn failed — {detail}", covered=True)]


def _context(ev: EventRecord, rec: SessionRecord) -> list[Op]:
    """A session's context reached ``usage.context_threshold`` of its window: a line in
    its thread and an alert (what its parent, if any, is told too)."""
    p = ev.payload
    percent, window = float(p.get("percent") or 0), int(p.get("window") or 0)
    model = str(p.get("model") or "")
    detail = f"{round(percent)}% of {window_text(window)} ({model or 'unknown model'})"
    return [_line(rec, fmt.lifecycle(rec.label, "context filling", detail), silent=True),
            _alert(context_notice(rec.label, percent, window, model), covered=True)]


def _line(rec: SessionRecord, text: fmt.Text, silent: bool = False) -> OutboxItem:
    return OutboxItem("send", text[0], text[1], session_id=rec.id, silent=silent)


def _alert(text: str, covered: bool = False) -> OutboxItem:
    """An alert for the operator chat; ``covered``: the session's thread says it too (in
    a chat without topics, that message is enough)."""
    plain, html = fmt.alert(text)
    return OutboxItem("alert", plain, html, ref="covered" if covered else None)


def _tool_of(message: str) -> str:
    """"Claude needs your permission to use Bash" → "Bash"."""
    marker = "permission to use "
    return message.split(marker, 1)[1].strip() if marker in message else ""
