"""Delivery: the durable message queue and the workers that type messages into agents.

A message is ``queued → delivering → delivered`` or ends ``failed`` / ``expired`` /
``cancelled`` with a reason. Its row is written before any key is pressed. The body is
typed once (bracketed paste); only Enter is retried. ``delivered`` means the agent's own
UserPromptSubmit hook showed the message's header at the start of its prompt.

    sequential  at the target's turn boundary (idle)
    important   ahead of sequential; at the earliest point that does not interrupt
                (mid-turn: the agent queues typed input itself)
    urgent      ahead of all; interrupts a running turn with the agent's own key,
                waits for its prompt, then delivers

Never typed: into a permission prompt, over text a human has in the composer.

    queue.py     accepting (the transaction), cancel, expire: every state change
    decide.py    the pure rule of what to do next with a message
    worker.py    one typing worker per target: screen → decide → act
    receipts.py  the agent's own receipt, matched in its hook's transaction
"""

from sm.core.delivery.queue import Queue, clean_body, header, mode_of, render
from sm.core.delivery.receipts import Receipts
from sm.core.delivery.worker import Workers

__all__ = ["Queue", "Receipts", "Workers", "clean_body", "header", "mode_of", "render"]
