"""Questions (``sm ask``) answered from Telegram: a button for each choice, a reply to
the question, or any text written in the asking session's thread.

The question itself is sm's own row (``core/asks.py``); the mirror posts it and edits
it when it is settled. This module only turns a human's press or text into an answer.
"""

from __future__ import annotations

from sm.core.caller import Caller
from sm.errors import Conflict, NotFound
from sm.ops import Ops
from sm.store import Store


class Asks:
    def __init__(self, store: Store, ops: Ops, caller: Caller) -> None:
        self.store = store
        self.ops = ops
        self.caller = caller

    async def press(self, ask_id: str, index: int, who: str) -> str:
        """A choice's button: what its spinner says."""
        ask = await self.store.asks.get(ask_id)
        if ask is None or not 0 <= index < len(ask.choices):
            return "unknown question"
        if ask.state != "pending":
            return f"already {ask.state}"
        answer = ask.choices[index]
        try:
            await self.ops.asks.answer(self.caller, ask_id, answer, who)
        except (Conflict, NotFound):
            return "already answered"
        return answer

    async def answer_text(
        self, session_id: str | None, text: str, who: str, reply_to: tuple[int, int] | None,
    ) -> bool:
        """A human replied to a question, or wrote in a session's thread: the question
        replied to, else the session's oldest pending one, takes the text as its answer.
        The operator's questions (in the main chat) take only replies."""
        pending = await self.ops.asks.pending(self.caller)
        chosen = [a for a in pending if reply_to and (a.chat_id, a.message_id) == reply_to]
        if not chosen and session_id is not None:
            chosen = [a for a in pending if a.session_id == session_id]
        for ask in chosen:
            try:
                await self.ops.asks.answer(self.caller, ask.id, text, who)
            except Conflict:
                continue
            return True
        return False
