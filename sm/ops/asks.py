"""Question operations: ``sm ask`` and answering it."""

from __future__ import annotations

import math

from sm.core.asks import Asks
from sm.core.caller import Caller
from sm.errors import InvalidInput
from sm.ops.authz import Authz
from sm.store.asks import AskRecord

MAX_WAIT = 60.0


class AskOps:
    def __init__(self, asks: Asks, authz: Authz) -> None:
        self.asks = asks
        self.authz = authz

    async def ask(self, caller: Caller, ask_id: str, question: str, choices: list[str],
                  timeout: float = 600.0) -> AskRecord:
        """Post a question for the human (idempotent by ``ask_id``)."""
        return await self.asks.create(caller, ask_id, question, choices, timeout)

    async def wait(self, caller: Caller, ask_id: str, seconds: float = 0.0) -> AskRecord:
        """The question once answered or expired, or as it stands after ``seconds``
        (at most MAX_WAIT: ask again)."""
        if math.isnan(seconds):
            raise InvalidInput(f"wait {seconds}: expected 0 to {MAX_WAIT:g} seconds")
        return await self.asks.wait(ask_id, max(0.0, min(seconds, MAX_WAIT)))

    async def pending(self, caller: Caller) -> list[AskRecord]:
        """Questions waiting for the human. The operator only."""
        await self.authz.check_operator(caller, "reading the questions for the human")
        return await self.asks.pending()

    async def answer(self, caller: Caller, ask_id: str, answer: str, who: str = "") -> AskRecord:
        """Answer a question as the human. The operator only (any of its surfaces)."""
        await self.authz.check_operator(caller, "answering a question for the human")
        return await self.asks.answer(ask_id, answer, who or caller.via)
