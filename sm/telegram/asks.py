"""Ask the human: ``sm ask`` posts a question into the asking session's thread and the
agent's command waits for the answer (a button for each choice, or any text written in
the thread, or a reply to the question). The question is a row: a daemon restart
neither loses it nor asks twice (the client retries with the same id).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable

from sm.core.sessions import Caller, Sessions
from sm.errors import Conflict, InvalidInput, NotFound, Refused
from sm.store import Store
from sm.store.telegram import AskRecord, OutboxItem, TelegramRows
from sm.telegram import format as fmt
from sm.telegram.outbox import Outbox
from sm.vocab import EventKind

_ID = re.compile(r"[0-9a-f]{8,32}")
MAX_CHOICES = 12


class Asks:
    def __init__(
        self, store: Store, rows: TelegramRows, sessions: Sessions, outbox: Outbox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.rows = rows
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock
        self._changed: dict[str, asyncio.Event] = {}

    async def create(
        self, caller: Caller, ask_id: str, question: str, choices: list[str], timeout: float,
    ) -> AskRecord:
        """Post a question (idempotent by ``ask_id``). Raises InvalidInput for an empty
        question, a bad id, too many or too long choices, or a timeout out of range."""
        if not _ID.fullmatch(ask_id):
            raise InvalidInput(f"ask id {ask_id!r}: expected 8-32 lowercase hex digits")
        question = question.strip()
        if not question:
            raise InvalidInput("the question is empty")
        if len(question) > 3000:
            raise InvalidInput(f"the question is {len(question)} characters; the limit is 3000")
        choices = [c.strip() for c in choices if c.strip()]
        if len(choices) > MAX_CHOICES or any(len(c) > 60 for c in choices):
            raise InvalidInput(f"give at most {MAX_CHOICES} choices of at most 60 characters")
        if not 0 < timeout <= 7 * 86400:
            raise InvalidInput(f"timeout {timeout:g}s: expected more than 0 and at most a week")
        found = await self.rows.ask(ask_id)
        session_id = caller.id if caller else None
        if found is not None:
            if found.session_id != session_id:
                raise Refused(f"question {ask_id} belongs to another session")
            return found
        now = self.clock()
        ask = AskRecord(ask_id, session_id, question, choices, "pending", None, None,
                        now + timeout, None, None, now)
        plain, html = fmt.question(caller.label if caller else "operator", question, choices)
        buttons = [(c, f"ask:{ask_id}:{i}") for i, c in enumerate(choices)]
        markup = [buttons[i:i + 3] for i in range(0, len(buttons), 3)] or None
        event = None
        async with self.store.write() as conn:
            if await self.rows.add_ask(conn, ask):
                op = "send" if session_id else "alert"
                await self.rows.enqueue(conn, OutboxItem(
                    op, plain, html, session_id=session_id, markup=markup, ref=f"ask:{ask_id}"),
                    now)
                event = await self.store.events.append(conn, now, session_id, EventKind.ASK, {
                    "id": ask_id, "state": "pending", "question": question[:300]})
        self.outbox.wake()
        if event is not None:  # the live views show the question
            await self.sessions.bus.publish([event])
        return ask

    async def wait(self, ask_id: str, seconds: float) -> AskRecord:
        """The question once answered or expired, or as it stands after ``seconds``.
        Raises NotFound for an unknown id."""
        ask = await self.rows.ask(ask_id)
        if ask is None:
            raise NotFound(f"no question {ask_id!r}")
        until = self.clock() + max(0.0, seconds)
        while ask.state == "pending":
            now = self.clock()
            if now >= ask.deadline:
                await self._settle(ask, "expired", None, None)
            elif now >= until:
                break
            else:
                changed = self._changed.setdefault(ask_id, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), min(until, ask.deadline) - now)
            ask = await self.rows.ask(ask_id) or ask
        return ask

    async def press(self, ask_id: str, index: int, who: str) -> str:
        ask = await self.rows.ask(ask_id)
        if ask is None or not 0 <= index < len(ask.choices):
            return "unknown question"
        if ask.state != "pending":
            return f"already {ask.state}"
        answer = ask.choices[index]
        return answer if await self._settle(ask, "answered", answer, who) else "already answered"

    async def answer(self, ask_id: str, text: str, who: str) -> AskRecord:
        """Answer one question by id (from the web dashboard). Raises NotFound for an
        unknown id and Conflict when it is no longer pending."""
        ask = await self.rows.ask(ask_id)
        if ask is None:
            raise NotFound(f"no question {ask_id!r}")
        if not await self._settle(ask, "answered", text, who):
            raise Conflict(f"question {ask_id} is already {ask.state}")
        return await self.rows.ask(ask_id) or ask

    async def answer_text(
        self, session_id: str | None, text: str, who: str, reply_to: tuple[int, int] | None,
    ) -> bool:
        """A human replied to a question, or wrote in a session's thread: the question
        replied to, else the session's oldest pending one, takes the text as its answer.
        The operator's questions (in the main chat) take only replies."""
        pending = await self.rows.pending_asks()
        chosen = [a for a in pending if reply_to and (a.chat_id, a.message_id) == reply_to]
        if not chosen and session_id is not None:
            chosen = [a for a in pending if a.session_id == session_id]
        for ask in chosen:
            if await self._settle(ask, "answered", text, who):
                return True
        return False

    async def expire(self) -> None:
        for ask in await self.rows.pending_asks():
            if ask.deadline <= self.clock():
                await self._settle(ask, "expired", None, None)

    async def _settle(
        self, ask: AskRecord, state: str, answer: str | None, who: str | None
    ) -> bool:
        label = "operator"
        if ask.session_id:
            label = (await self.sessions.get(ask.session_id)).label
        outcome = f"{answer} (by {who})" if answer is not None else "no answer in time"
        plain, html = fmt.question_settled(label, ask.question, outcome)
        now = self.clock()
        async with self.store.write() as conn:
            if not await self.rows.settle_ask(conn, ask.id, state, answer, who, now):
                return False
            await self.rows.enqueue(conn, OutboxItem("edit", plain, html, ref=f"ask:{ask.id}"),
                                    now)
            event = await self.store.events.append(conn, now, ask.session_id, EventKind.ASK, {
                "id": ask.id, "state": state, "by": who})
        self.outbox.wake()
        if event is not None:
            await self.sessions.bus.publish([event])
        changed = self._changed.pop(ask.id, None)
        if changed is not None:
            changed.set()
        return True
