"""Questions for the human: ``sm ask`` posts one and the asking command waits for the
answer, given from any surface (Telegram buttons or text, the web, ``sm answer``).

A question is a row, written with an ``ask`` event before anyone sees it; a daemon
restart neither loses it nor asks twice (the client retries with the same id). Its
deadline is kept by the scheduler: past it, the question is ``expired``. A question
whose asker died is ``withdrawn`` (nobody is left to read the answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable

from sm.core.caller import Caller
from sm.core.events import EventBus
from sm.errors import Conflict, InvalidInput, NotFound
from sm.store import Store
from sm.store.asks import AskRecord
from sm.store.events import EventRecord
from sm.vocab import DEAD, EventKind

_ID = re.compile(r"[0-9a-f]{8,32}")
MAX_CHOICES = 12
MAX_QUESTION = 3000
MAX_ANSWER = 4000


class Asks:
    def __init__(
        self, store: Store, bus: EventBus, *, poke: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.poke = poke
        self.clock = clock
        self._changed: dict[str, asyncio.Event] = {}
        bus.listen(self._on_event, "asks", (EventKind.STATE,))

    async def create(
        self, caller: Caller, ask_id: str, question: str, choices: list[str], timeout: float,
    ) -> AskRecord:
        """Post a question (idempotent by ``ask_id``). Raises InvalidInput for an empty
        question, a bad id, too many or too long choices, or a timeout out of range;
        Conflict when the id belongs to another caller's question."""
        if not _ID.fullmatch(ask_id):
            raise InvalidInput(f"ask id {ask_id!r}: expected 8-32 lowercase hex digits")
        question = question.strip()
        if not question:
            raise InvalidInput("the question is empty")
        if len(question) > MAX_QUESTION:
            raise InvalidInput(f"the question is {len(question)} characters; "
                               f"the limit is {MAX_QUESTION}")
        choices = [c.strip() for c in choices if c.strip()]
        if len(choices) > MAX_CHOICES or any(len(c) > 60 for c in choices):
            raise InvalidInput(f"give at most {MAX_CHOICES} choices of at most 60 characters")
        if not 0 < timeout <= 7 * 86400:
            raise InvalidInput(f"timeout {timeout:g}s: expected more than 0 and at most a week")
        found = await self.store.asks.get(ask_id)
        if found is not None:
            if found.session_id != caller.id:
                raise Conflict(f"question {ask_id} belongs to another caller")
            return found
        now = self.clock()
        ask = AskRecord(ask_id, caller.id, question, choices, "pending", None, None,
                        now + timeout, None, None, now)
        async with self.store.write() as conn:
            event = None
            if await self.store.asks.add(conn, ask):
                event = await self.store.events.append(conn, now, caller.id, EventKind.ASK, {
                    "id": ask_id, "action": "asked", "question": question, "choices": choices,
                    "from": caller.label, "deadline": ask.deadline,
                })
        await self.bus.publish([event])
        self.poke()
        return ask

    async def get(self, ask_id: str) -> AskRecord:
        ask = await self.store.asks.get(ask_id)
        if ask is None:
            raise NotFound(f"no question {ask_id!r}")
        return ask

    async def wait(self, ask_id: str, seconds: float) -> AskRecord:
        """The question once answered or expired, or as it stands after ``seconds``."""
        ask = await self.get(ask_id)
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
            ask = await self.get(ask_id)
        return ask

    async def answer(self, ask_id: str, answer: str, who: str) -> AskRecord:
        """Answer a pending question. Raises NotFound, InvalidInput (an empty or overlong
        answer), Conflict (answered or expired already)."""
        ask = await self.get(ask_id)
        answer = answer.strip()
        if not answer:
            raise InvalidInput("the answer is empty")
        if len(answer) > MAX_ANSWER:
            raise InvalidInput(f"the answer is {len(answer)} characters; the limit is "
                               f"{MAX_ANSWER}")
        if not await self._settle(ask, "answered", answer, who):
            current = await self.get(ask_id)
            raise Conflict(f"question {ask_id} is {current.state} already"
                           + (f" ({current.answer!r} by {current.answered_by})"
                              if current.answer else ""))
        return await self.get(ask_id)

    async def pending(self) -> list[AskRecord]:
        return await self.store.asks.pending()

    async def _on_event(self, ev: EventRecord) -> None:
        """A session that died withdraws its open questions."""
        if ev.kind != EventKind.STATE or ev.payload.get("to") not in DEAD:
            return
        for ask in await self.store.asks.pending():
            if ask.session_id == ev.session_id:
                await self._settle(ask, "withdrawn", None, f"sm: the asker is {ev.payload['to']}")

    # -- the scheduler's side ------------------------------------------------------------
    async def next_due(self) -> float | None:
        return await self.store.asks.next_deadline()

    async def run_due(self, now: float) -> None:
        for ask in await self.store.asks.pending():
            if ask.deadline <= now:
                await self._settle(ask, "expired", None, None)

    async def _settle(self, ask: AskRecord, state: str, answer: str | None, who: str | None
                      ) -> bool:
        now = self.clock()
        async with self.store.write() as conn:
            if not await self.store.asks.settle(conn, ask.id, state, answer, who, now):
                return False
            event = await self.store.events.append(conn, now, ask.session_id, EventKind.ASK, {
                "id": ask.id, "action": state, "answer": answer, "by": who,
            })
        await self.bus.publish([event])
        changed = self._changed.pop(ask.id, None)
        if changed is not None:
            changed.set()
        self.poke()
        return True
